"""Run directories: names, exclusive use, atomic saves and safe checkpoint loading (book chapter: *DDSP training*).

A run directory holds ``config.json`` (a readable copy), ``checkpoint.pt`` (weights, optimizer state, history and
the **authoritative** config), ``best_model.pt``, ``metrics.csv`` and ``loss_plot.png``.  Rules enforced here:

* a run name is one plain path component — never ``..``, a separator or an absolute path — so a run cannot be
  written outside ``models_directory``;
* one process at a time uses a run: ``train`` and ``retrain`` hold an exclusive lock on ``RUN/.lock`` (released by
  the operating system when the process ends, even on SIGKILL); a second process gets an error;
* a new run directory is created only after the config and the audio were validated, and removed again if the
  start fails before training;
* checkpoints load with ``torch.load(..., weights_only=True)``; anything that is not a checkpoint of this library
  (truncated, random bytes, a pickle with code, a bare tensor, a dict without config, weights of another shape,
  non-finite weights) is one :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ddsp_textures.training.config import SAVED_BEFORE, ConfigError, TrainConfig, check_run_name, parse_config

CHECKPOINT = "checkpoint.pt"
BEST = "best_model.pt"
LOCK = ".lock"
FULL_DISK_BYTES = 16 * 2**20      # a failed write with less free space than this is reported as a full disk
RUN_FILES = (CHECKPOINT, BEST, "config.json", "metrics.csv", "loss_plot.png", "grain_vae_loss.json", LOCK,
             "report.html", "samples")

try:  # POSIX advisory locks; on other systems runs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint of this library."""


class RunInUseError(ValueError):
    """Another process holds the run directory."""


def check_models_directory(path: str | Path) -> Path:
    """``models_directory`` must be a directory or creatable as one (it is not created here)."""
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"config key 'models_directory' is an existing file, not a directory: {root}")
    probe = root
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"config key 'models_directory': cannot create or write {root} "
                          f"({probe} is not a writable directory)")
    return root


class RunLock:
    """Exclusive use of a run directory by this process (``RUN/.lock``, released on :meth:`release` or exit)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK
        self.created = not self.path.exists() and not self.path.is_symlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        try:                                  # never through a symbolic link (it could point anywhere)
            self._fh = os.fdopen(os.open(self.path, flags, 0o644), "a")
        except OSError as err:
            if err.errno == errno.ELOOP or self.path.is_symlink():
                raise ConfigError(f"{self.path} is a symbolic link; remove it (a run's lock file is its own)") from None
            if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise ConfigError(f"run directory {run_dir} is read-only ({err.strerror}); make it writable, or "
                                  f"copy the run elsewhere and retrain the copy") from None
            raise ConfigError(f"cannot write to run directory {run_dir}: {err.strerror}") from None
        if fcntl is not None:
            try:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._fh.close()
                raise RunInUseError(f"run directory {run_dir} is in use by another process (train or retrain); "
                                    f"wait for it to finish or choose another run_name") from None

    def release(self) -> None:
        """Unlock (and remove the lock file if this process created it)."""
        if not self._fh.closed:
            if self.created:
                self.path.unlink(missing_ok=True)
            self._fh.close()


def claim_new_run(cfg: TrainConfig) -> tuple[Path, RunLock, list[Path]]:
    """Create (or take, if it exists and is empty) the run directory of a new run and lock it.

    Returns ``(run_dir, lock, created)`` where ``created`` lists the directories this call made (so that a
    failed start can remove them again).
    """
    root = check_models_directory(cfg.models_directory)
    created = [p for p in (root, *root.parents) if not p.exists()][::-1]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"config key 'models_directory': cannot create {root}: {err.strerror}") from None
    if cfg.run_name:
        run = root / check_run_name(cfg.run_name)
        if run.is_symlink():
            raise ConfigError(f"run directory {run} is a symbolic link (to {os.readlink(run)}); a run is written "
                              f"inside models_directory only: choose another run_name")
        if not run.exists():
            created.append(run)
        try:
            run.mkdir(exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create run directory {run}: {err.strerror}") from None
        lock = RunLock(run)
        leftovers = sorted(p.name for p in run.iterdir() if p.name != LOCK)
        if leftovers:
            lock.release()
            hint = f"use 'retrain {run}' to resume it" if CHECKPOINT in leftovers else "choose another run_name"
            raise ConfigError(f"run directory {run} is not empty ({', '.join(leftovers[:3])}); {hint}")
        return run, lock, created
    while True:
        taken = [int(p.name[6:]) for p in root.glob("model_*") if p.name[6:].isdigit()]
        run = root / f"model_{(max(taken) + 1) if taken else 0:02d}"
        try:
            run.mkdir()
        except FileExistsError:          # another process took this number first
            continue
        return run, RunLock(run), [*created, run]


def remove_failed_run(run: Path, lock: RunLock, created: list[Path]) -> None:
    """Undo :func:`claim_new_run` after a start that failed before the first checkpoint."""
    written = ("config.json", "grain_vae_loss.json", "metrics.csv", "loss_plot.png", BEST)
    for name in (*written, *(f"{name}.tmp" for name in (*written, CHECKPOINT))):   # and any atomic write's
        (run / name).unlink(missing_ok=True)
    lock.release()
    for directory in reversed(created):
        try:
            directory.rmdir()            # only if empty: never removes anything else
        except OSError:
            break


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a kill never leaves half a checkpoint, and a failed write
    (a full disk, a read-only directory) leaves the previous file and no temporary one — it raises
    :class:`OSError` naming ``path``."""
    _atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_save` for a text file (``config.json``, ``metrics.csv``): a Ctrl-C while it is written
    leaves the previous file whole, never an empty or half-written one."""
    _atomic_write(path, lambda tmp: tmp.write_text(text))


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:       # torch reports a failed write as a RuntimeError
        code = getattr(err, "errno", None)
        if code is None:
            try:
                full = shutil.disk_usage(path.parent).free < FULL_DISK_BYTES
            except OSError:
                full = False
            code = errno.ENOSPC if full else errno.EIO
        reason = getattr(err, "strerror", None) or os.strerror(code)
        raise OSError(code, f"{reason} (the previous {path.name}, if any, is kept)", str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)


def check_run_files(run_dir: Path) -> None:
    """Refuse a run directory that is, or holds, a symbolic link where the run writes: writing through it would
    change a file of another run, or anywhere else."""
    if run_dir.is_symlink():
        raise ConfigError(f"run directory {run_dir} is a symbolic link (to {os.readlink(run_dir)}); retrain the run "
                          f"where it is")
    for name in RUN_FILES:
        entry = run_dir / name
        if entry.is_symlink():
            raise ConfigError(f"{entry} is a symbolic link (to {os.readlink(entry)}); a run writes its own files — "
                              f"replace the link with a copy of the file")


REQUIRED = {"model": dict, "config": str}
RESUMABLE = {"optimizer": dict, "history": dict, "epoch": int, "best": float}


def load_checkpoint(path: Path, resumable: bool = False) -> dict[str, Any]:
    """Load and check a checkpoint (weights only); ``resumable`` also requires optimizer state and history."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {path.parent}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"refused to load {path}: it is not a plain weights file (damaged, or it holds "
                              f"Python objects or code, which are never executed)") from None
    except Exception as err:  # noqa: BLE001 - torch.load raises many types for foreign or damaged files
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot read {path} as a ddsp-textures checkpoint ({type(err).__name__}: "
                              f"{reason})") from None
    needed = {**REQUIRED, **(RESUMABLE if resumable else {})}
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a ddsp-textures checkpoint (it holds a {type(state).__name__})")
    for key, kind in needed.items():
        value = state.get(key)
        if not isinstance(value, kind) and not (kind is float and isinstance(value, int)):
            raise CheckpointError(f"{path} is not a ddsp-textures checkpoint: entry '{key}' is missing or not a "
                                  f"{kind.__name__}")
    epoch = state.get("epoch")
    if "epoch" in state and (isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= 10**6):
        raise CheckpointError(f"{path}: entry 'epoch' must be an integer in [0, 1000000], got {str(epoch)[:40]}")
    if resumable:
        _check_history(state["history"], path)
    for name, tensor in state["model"].items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{path}: weight '{name}' is not a tensor")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: weight '{name}' contains NaN or inf (a diverged or damaged model)")
    return state


def _check_history(history: dict[str, Any], path: Path) -> None:
    """A checkpoint's history: every key of :data:`HISTORY_KEYS`, lists of numbers of one length."""
    lengths = set()
    for key in HISTORY_KEYS:
        values = history.get(key)
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                     for v in values):
            raise CheckpointError(f"{path}: history entry '{key}' is missing or not a list of numbers")
        lengths.add(len(values))
    if len(lengths) != 1 or 0 in lengths:
        raise CheckpointError(f"{path}: history lists have different lengths ({sorted(lengths)}): damaged")


def checkpoint_config(state: dict[str, Any], path: Path) -> TrainConfig:
    """The config saved in a checkpoint (authoritative for the run)."""
    try:
        data = json.loads(state["config"])
        if isinstance(data, dict):                     # keys saved runs lack: what they trained with
            data = {**SAVED_BEFORE, **data}
        return parse_config(data)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: its saved config is not valid JSON ({err.msg})") from None
    except ConfigError as err:
        raise CheckpointError(f"{path}: its saved config is invalid: {err}") from None


def load_weights(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """``model.load_state_dict`` with a one-line error naming the file when the weights do not fit."""
    from ddsp_textures.models.upgrade import upgrade_state_dict

    try:
        weights = upgrade_state_dict(state["model"])
        defaults = model.state_dict()
        for key in getattr(model, "optional_state", ()):      # saved before the entry existed: its default
            weights.setdefault(key, defaults[key])
        model.load_state_dict(weights)
    except (RuntimeError, KeyError, ValueError) as err:
        first = str(err).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])[:240]
        raise CheckpointError(f"{path}: the weights do not fit the model of its config ({detail})") from None


HISTORY_KEYS = ("epoch", "train_loss", "val_loss", "val_texstat", "seconds")


def load_history(run_dir: str | Path) -> dict[str, list[float]]:
    """The training history of a run (from its last checkpoint): lists keyed by ``epoch``, ``train_loss``,
    ``val_loss``, ``val_texstat`` and ``seconds``; epoch 0 is the evaluation before training."""
    state = load_checkpoint(Path(run_dir) / CHECKPOINT, resumable=True)
    return {k: [float(v) for v in values] for k, values in state["history"].items()}


def validation_plateau(history: dict[str, list[float]], window: int = 4, tol: float = 0.01) -> bool:
    """Whether training has flattened: the best validation loss of the last ``window`` epochs improves on the
    best one before them by less than ``tol`` (relative).  Needs at least ``window + 1`` evaluations.

    >>> validation_plateau({"val_loss": [20.0, 19.4, 19.3, 19.31, 19.29, 19.30, 19.28]}, window=4)
    True
    >>> validation_plateau({"val_loss": [20.0, 18.0, 16.0, 14.0, 12.0]}, window=2)
    False
    """
    values = history["val_loss"]
    if window < 1 or len(values) <= window:
        return False
    before, recent = min(values[:-window]), min(values[-window:])
    return (before - recent) < tol * abs(before)


def weights_path(run_dir: str | Path, which: str = "best") -> Path:
    """The checkpoint file of a run's ``"best"`` weights (the last checkpoint where no best one is saved yet) or
    of its ``"last"`` ones."""
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    path = Path(run_dir) / (BEST if which == "best" else CHECKPOINT)
    return path if path.is_file() or which == "last" else Path(run_dir) / CHECKPOINT


def load_run(run_dir: str | Path, which: str = "best"):
    """Load a trained model (``"best"`` or ``"last"`` weights) and its config from a run directory.

    Returns ``(model in eval mode, TrainConfig)``.
    """
    from ddsp_textures.training.builders import build_model

    run_dir = Path(run_dir)
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found (or not a directory): {run_dir}")
    path = weights_path(run_dir, which)
    state = load_checkpoint(path)
    cfg = checkpoint_config(state, path)
    model = build_model(cfg)
    load_weights(model, state, path)
    return model.eval(), cfg
