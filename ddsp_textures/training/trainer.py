"""Training and resuming TexDSP models from a JSON config (book chapter: *DDSP training*).

A run directory holds ``config.json``, ``checkpoint.pt`` (written atomically after every epoch: weights with
the noise carriers, optimizer state, history, config), ``best_model.pt`` (best validation loss),
``metrics.csv`` and ``loss_plot.png``.  Every file loads with ``torch.load(..., weights_only=True)``.

Training is deterministic for a given config: the data order of epoch ``e`` depends only on
``(seed, e)``, so a run killed after epoch ``k`` and resumed with :func:`retrain` ends with the same
weights as an uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ddsp_textures.dsp.numerics import derive_seed
from ddsp_textures.dsp.spectral import long_term_spectrum
from ddsp_textures.models import count_parameters
from ddsp_textures.plotting import plot_history
from ddsp_textures.training import distributed
from ddsp_textures.training.builders import (
    build_datasets,
    build_model,
    build_sources,
    build_texstat,
    network_dtype,
    resolve_device,
)
from ddsp_textures.training.config import (
    LIMITS,
    ConfigError,
    TrainConfig,
    parse_config,
    physical_memory,
    saved_config_defaults,
)
from ddsp_textures.training.data import LazyTextureDataset, TextureDataset, source_seconds
from ddsp_textures.training.grain_training import extract_grains, train_grain_vae
from ddsp_textures.training.losses import TrainingLoss
from ddsp_textures.training.rundir import (
    BEST,
    CHECKPOINT,
    HISTORY_KEYS,
    CheckpointError,
    RunLock,
    atomic_save,
    atomic_write_text,
    check_models_directory,
    check_run_files,
    checkpoint_config,
    claim_new_run,
    load_checkpoint,
    load_run,
    load_weights,
    remove_failed_run,
    weights_path,
)


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def check_source_size(cfg: TrainConfig) -> None:
    """Refuse training audio whose decoded frames would not fit in memory (with the figure); with
    ``lazy_loading`` the frames stay on disk."""
    seconds = source_seconds(cfg.audio_path)
    if seconds is None or cfg.lazy_loading:
        return
    copies = 1 + cfg.frame_size / cfg.hop_size + (4 if cfg.data_augmentation else 0)
    need, have = seconds * cfg.sampling_rate * 4 * copies, physical_memory()
    if need > 0.5 * have:
        raise ConfigError(f"the training audio ({seconds / 60:.1f} min at {cfg.sampling_rate} Hz, framed with "
                          f"hop {cfg.hop_size}) needs about {need / 2**30:.1f} GiB in memory, this machine has "
                          f"{have / 2**30:.1f} GiB; set \"lazy_loading\": true, or use less audio, a lower "
                          f"sampling_rate or a larger hop_size")


def _frames(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, x.shape[-1])


class Trainer:
    """Holds the model, the data and the optimizer of one run."""

    def __init__(self, cfg: TrainConfig, run_dir: Path | None, progress: bool = True,
                 on_epoch: Callable[[dict[str, list[float]]], None] | None = None) -> None:
        self.cfg, self.run_dir, self.on_epoch = cfg, run_dir, on_epoch
        self.ranks = distributed.setup(resolve_device(cfg.device))
        self.device = distributed.rank_device(resolve_device(cfg.device), self.ranks)
        self.progress = progress and self.ranks.is_main
        self.model = build_model(cfg)
        self.signals = build_sources(cfg)
        self.train_set, self.val_set = build_datasets(cfg, self.model, self.signals)
        self.model.to(self.device)
        self.model.encoder.network_dtype = network_dtype(cfg, self.device)     # mixed precision (networks only)
        self.net: torch.nn.Module = self.model           # what the forward pass goes through (DDP across ranks)
        if self.ranks.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.texstat = build_texstat(cfg).to(self.device)
        self.loss_fn = TrainingLoss.from_config(cfg, self.model.bank, self.texstat).to(self.device)
        self._target_statistics: dict[int, list[torch.Tensor]] = {}
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.learning_rate)
        self.history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
        self.epoch = 0
        self.best = math.inf
        self.skipped_steps = 0

    def targets(self, data: TextureDataset | LazyTextureDataset, idx: torch.Tensor) -> list[torch.Tensor]:
        """TexStat statistics of the target frames of items ``idx``: the frames of an item never change, so
        the statistics of a whole in-memory dataset are computed once (on first use) and looked up afterwards;
        a lazily read dataset computes them per batch (their memory would grow with the corpus)."""
        if getattr(data, "lazy", False):
            with torch.no_grad():
                return self.texstat.statistics(_frames(data[idx][0]).to(self.device))
        key = id(data)
        if key not in self._target_statistics:
            with torch.no_grad():
                frames = _frames(data.audio)
                parts = [self.texstat.statistics(chunk.to(self.device)) for chunk in frames.split(64)]
            self._target_statistics[key] = [torch.cat(stat) for stat in zip(*parts, strict=True)]
        per_item = data.audio.shape[1]
        rows = (idx.reshape(-1, 1) * per_item + torch.arange(per_item)).reshape(-1).to(self.device)
        return [stat[rows] for stat in self._target_statistics[key]]

    def batch_loss(self, batch: tuple[torch.Tensor, ...], targets: list[torch.Tensor] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training loss of a batch, with the target and output frames it was computed from; ``targets``
        are the TexStat statistics of the target frames when known (:meth:`targets`)."""
        loss, _, x, y = self._losses(batch, targets)
        return loss, x, y

    def _losses(self, batch: tuple[torch.Tensor, ...], targets: list[torch.Tensor] | None
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """``(training loss, its TexStat term or None, target frames, output frames)`` of a batch
        (:class:`~ddsp_textures.training.losses.TrainingLoss`)."""
        x, *feats = (t.to(self.device) for t in batch)
        with_controls = self.loss_fn.needs_controls
        y, controls = self.net(feats, with_controls=True) if with_controls else (self.net(feats), None)
        if not torch.isfinite(y).all():      # a diverged output: a non-finite loss, skipped by the step guard
            nan = torch.full((), math.nan, device=self.device)
            return nan, nan, x, y
        terms = self.loss_fn.terms(x, y, controls, targets, getattr(self.model, "events_enabled", True))
        loss = torch.zeros((), device=self.device)
        for value in terms.values():
            loss = loss + value
        return loss, terms.get("texstat"), x, y

    @torch.no_grad()
    def evaluate(self, data: TextureDataset) -> tuple[float, float]:
        """Mean training loss and mean TexStat loss over a dataset (batch-weighted)."""
        self.model.eval()
        torch.manual_seed(derive_seed(self.cfg.seed, "evaluation"))   # same random draws at every evaluation
        total, total_ts, count = 0.0, 0.0, 0
        for batch in _batches(len(data), self.cfg.batch_size * self.ranks.world_size, None):
            idx = distributed.shard(batch, self.ranks)
            if len(idx) == 0:
                continue
            targets = self.targets(data, idx)
            loss, texstat, _, y = self._losses(data[idx], targets)   # one forward pass serves both losses
            if texstat is None:                                      # a loss without a TexStat term
                texstat = self.texstat.loss_to_statistics(_frames(y), targets)
            total += float(loss) * len(idx)
            total_ts += float(texstat) * len(idx)
            count += len(idx)
        total, total_ts, count = distributed.sum_over_ranks([total, total_ts, count], self.ranks, self.device)
        return total / count, total_ts / count

    def warming_up(self, epoch: int) -> bool:
        """Whether ``epoch`` trains a hybrid's bed alone (``event_warmup_epochs``): events off, and its validation
        is not a candidate for the best model (the event head has not been trained yet)."""
        return 0 < epoch <= self.cfg.event_warmup_epochs

    def train_epoch(self, epoch: int) -> float:
        self.model.train()
        self.model.set_events_enabled(not self.warming_up(epoch))
        generator = torch.Generator().manual_seed(derive_seed(self.cfg.seed, "data order", epoch))
        torch.manual_seed(derive_seed(self.cfg.seed, "synth draws", epoch))   # stochastic synths: same on resume
        batches = _batches(len(self.train_set), self.cfg.batch_size * self.ranks.world_size, generator)
        total, count, skipped = 0.0, 0, 0
        bar = tqdm(batches, desc=f"epoch {epoch}/{self.cfg.epochs}", leave=False, disable=not self.progress,
                   unit="batch")
        for batch in bar:
            idx = distributed.shard(batch, self.ranks)       # this rank's part of the global batch
            loss = self.batch_loss(self.train_set[idx], self.targets(self.train_set, idx))[0]
            self.optimizer.zero_grad(set_to_none=True)
            # guard: never let a NaN/inf step reach the weights (all ranks skip together, or DDP would hang)
            if not distributed.all_true(bool(torch.isfinite(loss)), self.ranks, self.device):
                skipped += 1
                continue
            loss.backward()
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            if not all(torch.isfinite(g).all() for g in grads):
                skipped += 1
                continue
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
            self.optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        total, count = distributed.sum_over_ranks([total, count], self.ranks, self.device)
        if count == 0:
            raise FloatingPointError(f"every training step of epoch {epoch} gave a non-finite loss or gradient; "
                                     f"lower 'learning_rate' and retrain")
        self.skipped_steps += skipped
        return total / count

    def checkpoint(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "history": self.history, "best": self.best, "config": self.cfg.to_json()}

    def restore(self, state: dict[str, Any], path: Path | None = None) -> None:
        path = self.run_dir / CHECKPOINT if path is None else path
        load_weights(self.model, state, path)
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            history = {k: [float(v) for v in state["history"][k]] for k in HISTORY_KEYS}
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise CheckpointError(f"{path}: optimizer state or history do not fit this run ({err})") from None
        self.history = history
        self.epoch, self.best = int(state["epoch"]), float(state["best"])

    def prepare_grain_vae(self) -> None:
        """P-VAE and hybrid runs: fit the grain VAE on onset-aligned grains of the training audio (once per run)."""
        model = self.model
        if not model.has_grain_vae or bool(model.vae_trained):
            return
        cfg = self.cfg
        per_signal = max(8, 512 // len(self.signals))
        grains = torch.cat([extract_grains(s, cfg.sampling_rate, cfg.vae_grain_size, per_signal)
                            for s in self.signals if len(s) >= cfg.vae_grain_size])
        model.vae.requires_grad_(True)
        history = train_grain_vae(model.vae, grains, cfg.vae_epochs, beta=cfg.vae_beta, seed=cfg.seed,
                                  progress=self.progress)
        model.vae.requires_grad_(False)
        model.vae_trained.fill_(True)
        if self.ranks.is_main:
            atomic_write_text(self.run_dir / "grain_vae_loss.json",
                              json.dumps({"grains": len(grains), "loss": history}))
        if self.progress:
            tqdm.write(f"grain VAE: {len(grains)} grains, loss {history[0]:.3f} -> {history[-1]:.3f}")

    def fit(self) -> Path:
        cfg = self.cfg
        self.prepare_grain_vae()
        if self.epoch == 0 and not self.history["epoch"]:
            val, val_ts = self.evaluate(self.val_set)
            self._record(0, math.nan, val, val_ts, 0.0)
        since_best = 0
        warmup = cfg.event_warmup_epochs
        candidates = [i for i, e in enumerate(self.history["epoch"]) if e > warmup or not warmup]
        if candidates:
            best_epoch = self.history["epoch"][min(candidates, key=self.history["val_loss"].__getitem__)]
            since_best = self.epoch - int(best_epoch)
        for epoch in range(self.epoch + 1, cfg.epochs + 1):
            start = time.perf_counter()
            train_loss = self.train_epoch(epoch)
            val, val_ts = self.evaluate(self.val_set)
            self.epoch = epoch
            self._record(epoch, train_loss, val, val_ts, time.perf_counter() - start)
            if self.warming_up(epoch):
                pass                 # the bed alone: neither the best model nor a reason to stop early
            elif val < self.best or (warmup and epoch == warmup + 1):   # the first epoch with events
                self.best, since_best = val, 0
                if self.ranks.is_main:
                    atomic_save({"epoch": epoch, "model": self.model.state_dict(), "config": cfg.to_json()},
                                self.run_dir / BEST)
            else:
                since_best += 1
            if self.ranks.is_main:
                atomic_save(self.checkpoint(), self.run_dir / CHECKPOINT)
                atomic_write_text(self.run_dir / "config.json", cfg.to_json())   # in step with the checkpoint
                self._write_logs()
            if self.on_epoch is not None:
                self.on_epoch({k: list(v) for k, v in self.history.items()})
            if self.progress:
                tqdm.write(f"epoch {epoch:>4}/{cfg.epochs}  train {train_loss:.4f}  val {val:.4f}  "
                           f"val TexStat {val_ts:.4f}  ({self.history['seconds'][-1]:.1f} s)")
            if cfg.early_stopping_patience and since_best >= cfg.early_stopping_patience:
                if self.progress:
                    tqdm.write(f"early stop: no validation improvement for {since_best} epochs")
                break
        self.model.set_events_enabled(True)
        if self.ranks.is_main:
            self._write_logs()
            self.finish_best()
        return self.run_dir

    def finish_best(self) -> None:
        """The model's :meth:`~ddsp_textures.models.TextureModel.after_training` on its best weights (the last
        checkpoint where none is saved yet) and the training audio (its first minute); what it changes is saved
        back into that file.  A model that settles nothing
        (:attr:`~ddsp_textures.models.TextureModel.settles_after_training`) is not reloaded."""
        if not self.model.settles_after_training:
            return
        path = weights_path(self.run_dir)
        model, _ = load_run(self.run_dir)
        limit, pieces = int(MAX_REFERENCE_S * self.cfg.sampling_rate), []
        for signal in self.signals:                     # in memory or memory-mapped
            pieces.append(np.asarray(signal[: limit - sum(map(len, pieces))], dtype=np.float32).reshape(-1))
        before = {key: value.clone() for key, value in model.state_dict().items()}
        report = model.after_training(torch.from_numpy(np.concatenate(pieces)))
        changed = {key: value for key, value in model.state_dict().items() if not torch.equal(value, before[key])}
        if changed:
            state = load_checkpoint(path)
            state["model"].update(changed)
            atomic_save(state, path)
        if report and self.progress:
            tqdm.write(report)

    def _record(self, epoch: int, train: float, val: float, val_ts: float, seconds: float) -> None:
        for key, value in zip(HISTORY_KEYS, (epoch, train, val, val_ts, seconds), strict=True):
            self.history[key].append(float(value))
        if epoch == 0:
            self.best = val

    def _write_logs(self) -> None:
        table = io.StringIO(newline="")
        writer = csv.writer(table)
        writer.writerow(HISTORY_KEYS)
        writer.writerows(zip(*(self.history[k] for k in HISTORY_KEYS), strict=True))
        atomic_write_text(self.run_dir / "metrics.csv", table.getvalue())
        plot_history(self.history, self.run_dir / "loss_plot.png")


def train(config: TrainConfig | dict[str, Any], progress: bool = True,
          on_epoch: Callable[[dict[str, list[float]]], None] | None = None) -> Path:
    """Train a new run from a config; returns its directory.

    Everything is validated — config, output location, audio — before the run directory is created, and a start
    that fails before the first checkpoint leaves no directory behind.  The run directory is locked while
    training (:class:`~ddsp_textures.training.rundir.RunLock`).

    ``on_epoch`` is called after every epoch with a copy of the history (keys ``epoch``, ``train_loss``,
    ``val_loss``, ``val_texstat``, ``seconds``), e.g. to update a live plot in a notebook.
    """
    cfg = config if isinstance(config, TrainConfig) else parse_config(config)
    check_models_directory(cfg.models_directory)
    check_source_size(cfg)
    trainer = Trainer(cfg, None, progress, on_epoch)
    ranks = trainer.ranks
    if not ranks.is_main:            # other ranks of a torchrun launch: rank 0 creates and writes the run
        trainer.run_dir = Path(distributed.receive_or_raise(ranks, trainer.device))
        _prepare_from_corpus(trainer)
        return trainer.fit()
    with distributed.errors_to_ranks(ranks, trainer.device):
        run_dir, lock, created = claim_new_run(cfg)
    distributed.broadcast_text(str(run_dir), ranks, trainer.device)
    try:
        trainer.run_dir = run_dir
        atomic_write_text(run_dir / "config.json", cfg.to_json())
        _prepare_from_corpus(trainer)
        if progress:
            world = f", world size {ranks.world_size}" if ranks.active else ""
            tqdm.write(f"run {run_dir}: {len(trainer.train_set)} train / {len(trainer.val_set)} validation "
                       f"sequences, {count_parameters(trainer.model):,} parameters, device {trainer.device}{world}")
        return trainer.fit()
    except BaseException as err:
        if not (run_dir / CHECKPOINT).exists():
            remove_failed_run(run_dir, lock, created)
        elif isinstance(err, KeyboardInterrupt):
            err.run_dir = run_dir          # the CLI names the run to resume
        raise
    finally:
        lock.release()


MAX_REFERENCE_S = 60.0     # of the training audio, given to a model's after_training


def _prepare_from_corpus(trainer: Trainer) -> None:
    """New runs only: carriers follow the corpus' long-term spectrum inside each band, and a P-VAE measures the
    background between the corpus' events (both saved with the weights, so a resumed run loads them)."""
    cfg = trainer.cfg
    if trainer.model.has_carriers and cfg.carrier_spectrum == "corpus":
        trainer.model.prepare_carriers(long_term_spectrum(trainer.signals, cfg.frame_size),
                                       torch.Generator().manual_seed(cfg.seed))
    if trainer.model.has_background:
        trainer.model.prepare_background(trainer.signals)


def retrain(run_dir: str | Path, epochs: int | None = None, progress: bool = True) -> Path:
    """Resume a run from its last checkpoint (optionally raising its total number of epochs).

    The config saved in the checkpoint is authoritative; ``config.json`` is a copy for reading.  If it was edited,
    retraining is refused with the keys that differ (an edit is never silently ignored): restore it, or start a
    new run with the new settings.  ``epochs`` is the one setting a resume may change: more than the epochs
    already trained; ``config.json`` is rewritten with every checkpoint, so it never runs ahead of it.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found (or not a directory): {run_dir}")
    check_run_files(run_dir)
    path = run_dir / CHECKPOINT
    state = load_checkpoint(path, resumable=True)
    cfg = checkpoint_config(state, path)
    _check_config_copy(run_dir, cfg)
    # the checkpoint is data, not instructions: the run's models directory is where the run is, not where its
    # saved config says (which could be anywhere, or relative to another working directory)
    cfg.models_directory = str(run_dir.resolve().parent)
    if epochs is not None:
        done = int(state.get("epoch", 0))
        if epochs <= cfg.event_warmup_epochs:
            raise ConfigError(f"--epochs must be > the run's event_warmup_epochs ({cfg.event_warmup_epochs}): the "
                              f"events would never train, got {epochs}")
        if not done < epochs <= LIMITS["epochs"]:
            raise ConfigError(f"--epochs must be more than the {done} epochs {run_dir} has trained and at most "
                              f"{LIMITS['epochs']:,}, got {epochs}")
        cfg.epochs = epochs
    check_source_size(cfg)
    trainer = Trainer(cfg, run_dir, progress)
    ranks, lock = trainer.ranks, None
    if ranks.is_main:
        with distributed.errors_to_ranks(ranks, trainer.device):
            lock = RunLock(run_dir)
        distributed.broadcast_text(str(run_dir), ranks, trainer.device)
    else:
        distributed.receive_or_raise(ranks, trainer.device)
    try:
        trainer.restore(state, path)
        progress = trainer.progress
        if trainer.epoch >= cfg.epochs:
            if progress:
                tqdm.write(f"{run_dir} already trained {trainer.epoch} of {cfg.epochs} epochs; "
                           f"pass --epochs N to train longer")
            return run_dir
        if progress:
            tqdm.write(f"resuming {run_dir} at epoch {trainer.epoch + 1}/{cfg.epochs}")
        return trainer.fit()
    finally:
        if lock is not None:
            lock.release()


def _check_config_copy(run_dir: Path, cfg: TrainConfig) -> None:
    """Refuse to resume when ``config.json`` differs from the checkpoint's config (see :func:`retrain`)."""
    copy = run_dir / "config.json"
    if not copy.is_file():
        return
    try:
        edited = json.loads(copy.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"{copy} is not valid JSON; restore it (the checkpoint holds the run's config)") from None
    saved = cfg.to_dict()
    if not isinstance(edited, dict):
        raise ConfigError(f"{copy} is not a JSON object; restore it (the checkpoint holds the run's config)")
    edited = saved_config_defaults(edited)    # a key the copy lacks means its value when the run was saved
    changed = sorted(k for k in set(edited) | set(saved) if edited.get(k) != saved.get(k))
    if changed:
        raise ConfigError(f"{copy} differs from the config saved in the checkpoint (keys: {', '.join(changed)}); "
                          f"the checkpoint's config is authoritative — restore config.json, or start a new run "
                          f"with the changed settings (retrain --epochs N changes the number of epochs)")
