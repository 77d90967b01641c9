"""Training step time and epoch time of the shipped configs (``configs/*.json``).

    python benchmarks/bench_training.py [--steps 5] [--configs configs/quick_fire.json ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import sync, write_results  # noqa: E402

from ddsp_textures.config import load_config  # noqa: E402
from ddsp_textures.model import count_parameters  # noqa: E402
from ddsp_textures.training import Trainer, _batches  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", nargs="*", default=sorted(str(p) for p in (ROOT / "configs").glob("*.json")))
    parser.add_argument("--steps", type=int, default=5, help="timed optimisation steps")
    parser.add_argument("--no-epoch", action="store_true", help="skip the full-epoch timing")
    args = parser.parse_args()
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
            batch = trainer.train_set[_batches(len(trainer.train_set), cfg.batch_size, None)[0]]
            times = []
            for i in range(args.steps + 1):
                sync(trainer.device)
                t0 = time.perf_counter()
                loss = trainer._loss(batch)[0]
                trainer.optimizer.zero_grad()
                loss.backward()
                trainer.optimizer.step()
                sync(trainer.device)
                if i:                       # first step is warm-up
                    times.append(time.perf_counter() - t0)
            row = {"config": Path(path).name, "device": str(trainer.device),
                   "parameters": count_parameters(trainer.model),
                   "batch": cfg.batch_size, "frames_per_step": cfg.batch_size * cfg.sequence_length,
                   "setup_s": setup, "step_s": sorted(times)[len(times) // 2],
                   "train_sequences": len(trainer.train_set)}
            if not args.no_epoch:
                t0 = time.perf_counter()
                trainer.train_epoch(1)
                trainer.evaluate(trainer.val_set)
                row["epoch_s"] = time.perf_counter() - t0
                row["epochs"] = load_config(path).epochs
                row["estimated_run_s"] = setup + row["epoch_s"] * row["epochs"]
            rows.append(row)
            print(row, flush=True)
    columns = [("config", "config"), ("device", "device"), ("parameters", "parameters"), ("batch", "batch"),
               ("frames_per_step", "frames/step"), ("step_s", "step (s)"), ("epoch_s", "epoch incl. validation (s)"),
               ("epochs", "epochs"), ("estimated_run_s", "est. full run (s)")]
    write_results("training", "Training step and epoch time of the shipped configs", rows, columns,
                  notes=f"Median of {args.steps} optimisation steps after one warm-up step; one epoch = training + "
                  "validation pass.")


if __name__ == "__main__":
    main()
