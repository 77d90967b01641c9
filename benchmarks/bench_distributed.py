"""Training throughput of one process vs two torchrun ranks on this machine, in one run.

    python -m benchmarks.bench_distributed            # ≈ 3 min on 2 CPU cores
    python -m benchmarks.bench_distributed --quick

The same run (procedural fire, L = 16384 at 22.05 kHz, sequences of 4, TexDSP) is trained for a few epochs as
1 process × 1 thread, 1 process × 2 threads and 2 gloo ranks × 1 thread (per-rank batch 4, so the two-rank run
sees global batches of 8, which equals one process with batch 8 — ``tests/test_distributed.py``).  Throughput =
training + validation frames per second of wall time, median over the epochs after the first.  On a GPU
machine add ``--device cuda`` (one GPU per rank, NCCL).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from .common import RESULTS, write_results


def run(workdir: Path, name: str, ranks: int, threads: int, batch: int, epochs: int, device: str) -> dict:
    cfg = {"audio_path": "procedural:fire?seconds=40", "sampling_rate": 22050, "frame_size": 16384,
           "hop_size": 8192, "sequence_length": 4, "features_list": ["energy_bands", "centroid", "rate"],
           "hidden_size_enc": 64, "hidden_size_dec": 128, "param_per_env": 128, "batch_size": batch,
           "epochs": epochs, "seed": 0, "device": device, "models_directory": str(workdir), "run_name": name}
    (workdir / f"{name}.json").write_text(json.dumps(cfg))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
    cmd = (launcher if ranks > 1 else [sys.executable]) + ["-m", "ddsp_textures", "--threads", str(threads),
                                                           "train", f"{name}.json", "--quiet"]
    subprocess.run(cmd, check=True, cwd=workdir, capture_output=True)
    state = torch.load(workdir / name / "checkpoint.pt", weights_only=True)
    seconds = state["history"]["seconds"][2:]                     # epochs after the first
    frames = _items(cfg) * cfg["sequence_length"]
    per_second = frames / float(np.median(seconds))
    return {"setup": f"{ranks} rank(s) × {threads} thread(s)", "ranks": ranks, "threads": threads,
            "global_batch": batch * ranks, "epoch_s": float(np.median(seconds)), "frames_per_s": per_second}


def _items(cfg: dict) -> int:
    """Sequences per epoch (train + validation) of a config."""
    from ddsp_textures.training.builders import build_datasets, build_model
    from ddsp_textures.training.config import parse_config

    parsed = parse_config(cfg)
    train_set, val_set = build_datasets(parsed, build_model(parsed))
    return len(train_set) + len(val_set)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    epochs = 3 if args.quick else args.epochs
    setups = [("r1t1", 1, 1, 8), ("r1t2", 1, 2, 8), ("r2t1", 2, 1, 4)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ranks, threads, batch in setups:
            row = run(Path(tmp), name, ranks, threads, batch, epochs, args.device)
            rows.append(row)
            print(row, flush=True)
    base = rows[0]["frames_per_s"]
    for row in rows:
        row["speedup"] = row["frames_per_s"] / base
    columns = [("setup", "setup"), ("global_batch", "global batch"), ("epoch_s", "epoch s (median)"),
               ("frames_per_s", "frames/s"), ("speedup", "× 1 rank, 1 thread")]
    suffix = "_quick" if args.quick else ""
    write_results("distributed" + suffix, "Training throughput: 1 process vs 2 torchrun ranks", rows, columns,
                  notes="TexDSP on 40 s of procedural fire, L = 16384 at 22.05 kHz, sequences of 4; global batch 8.")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar([r["setup"] for r in rows], [r["frames_per_s"] for r in rows], color=["C0", "C0", "C1"])
    ax.set_ylabel("training frames / s")
    ax.set_title("2-core CPU: one process vs two ranks (gloo)")
    fig.tight_layout()
    fig.savefig(RESULTS / f"distributed{suffix}.png", dpi=120)


if __name__ == "__main__":
    main()
