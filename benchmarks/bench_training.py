"""Training step time and epoch time of the shipped configs (``configs/*.json``), before and after.

"Before" runs the same trainer, model and batch with the previous release's hot paths swapped back in: TexStat
by the time-domain pipeline on the whole batch (``bench_texstat.before_statistics``), the target statistics
recomputed at every step, and TexEnv synthesis of all ``(B, N, L)`` bands at once.  "After" is the library.
Both are timed in the same process, alternating, on the same batch.

    python -m benchmarks.bench_training [--steps 5] [--threads 1] [--configs configs/quick_fire.json ...]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import torch

import ddsp_textures.synths.texenv as texenv
from ddsp_textures.models import count_parameters
from ddsp_textures.training.config import load_config
from ddsp_textures.training.trainer import Trainer

from .bench_texstat import before_statistics
from .common import sync, write_results

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def previous_release(trainer: Trainer):
    """Swap the previous release's TexStat and TexEnv synthesis into ``trainer`` (see the module docstring)."""
    blocks = texenv.synthesis_blocks
    trainer.texstat.statistics = lambda x, chunk_size=None: before_statistics(trainer.texstat, x)
    texenv.synthesis_blocks = lambda n_items, n_bands, length, device: (max(1, n_items), n_bands)
    try:
        yield
    finally:
        del trainer.texstat.statistics
        texenv.synthesis_blocks = blocks


def step_time(trainer: Trainer, batch: tuple, targets: list | None) -> float:
    sync(trainer.device)
    t0 = time.perf_counter()
    loss = trainer.batch_loss(batch, targets)[0]
    trainer.optimizer.zero_grad()
    loss.backward()
    trainer.optimizer.step()
    sync(trainer.device)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", nargs="*", default=sorted(str(p) for p in (ROOT / "configs").glob("*.json")))
    parser.add_argument("--steps", type=int, default=5, help="timed optimisation steps")
    parser.add_argument("--no-epoch", action="store_true", help="skip the full-epoch timing")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (see README)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for path in args.configs:
        cfg = load_config(path)
        with tempfile.TemporaryDirectory() as tmp:
            cfg.models_directory, cfg.run_name, cfg.epochs = tmp, "bench", 1
            run = Path(tmp) / "bench"
            run.mkdir()
            start = time.perf_counter()
            trainer = Trainer(cfg, run, progress=False)
            setup = time.perf_counter() - start
            idx = torch.arange(min(len(trainer.train_set), cfg.batch_size))   # the first batch, unshuffled
            batch = trainer.train_set[idx]
            before, after = [], []
            for i in range(args.steps + 1):
                with previous_release(trainer):
                    t_before = step_time(trainer, batch, None)
                t_after = step_time(trainer, batch, trainer.targets(trainer.train_set, idx))
                if i:                       # first step is warm-up (and fills the target cache)
                    before.append(t_before)
                    after.append(t_after)
            times = after
            row = {"config": Path(path).name, "device": str(trainer.device),
                   "parameters": count_parameters(trainer.model),
                   "batch": cfg.batch_size, "frames_per_step": cfg.batch_size * cfg.sequence_length,
                   "setup_s": setup, "step_s": sorted(times)[len(times) // 2],
                   "before_step_s": sorted(before)[len(before) // 2],
                   "train_sequences": len(trainer.train_set)}
            if not args.no_epoch:
                t0 = time.perf_counter()
                trainer.train_epoch(1)
                trainer.evaluate(trainer.val_set)
                row["epoch_s"] = time.perf_counter() - t0
                row["epochs"] = load_config(path).epochs
                row["estimated_run_s"] = setup + row["epoch_s"] * row["epochs"]
            row["speedup"] = row["before_step_s"] / row["step_s"]
            rows.append(row)
            print(row, flush=True)
    columns = [("config", "config"), ("device", "device"), ("parameters", "parameters"), ("batch", "batch"),
               ("frames_per_step", "frames/step"), ("before_step_s", "step before (s)"), ("step_s", "step after (s)"),
               ("speedup", "speed-up"), ("epoch_s", "epoch incl. validation (s)"),
               ("epochs", "epochs"), ("estimated_run_s", "est. full run (s)")]
    write_results("training", "Training step and epoch time of the shipped configs", rows, columns,
                  notes=f"Median of {args.steps} optimisation steps after one warm-up step, before and after "
                  f"alternating on the same batch, {args.threads} thread(s); one epoch (library) = training + "
                  "validation pass.")


if __name__ == "__main__":
    main()
