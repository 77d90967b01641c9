"""Which recipe the main job should ship (issue 29: "``configs/quick_fire.json`` should train, in about 3 CPU
minutes, a model whose generated fire meets the fire targets, or come as close as any config that fits that
time"): ``python -m benchmarks.eval_main_job [--candidates NAME ...] [--seed S --name NAME]``.

The fire of ``eval_generation``'s full mode (procedural, seed 11, two 40-s halves): the first half trains each
candidate recipe as the main job trains (every CPU core, the config's own epochs), and is the reference; the
second half is the floor.  Each candidate is ``configs/quick_fire.json`` with the keys of :data:`CANDIDATES`
(``P-VAE (shipped)`` is the file as it is), or an earlier recipe in full (:data:`SHIPPED_BEFORE`).  Its
trained model generates 40 s from the first half (``generate``'s defaults, as the main job's report does),
scored with :class:`~ddsp_textures.metrics.Yardstick` against the first half and, held out, against the
second.  Training is timed (wall clock, including the grain VAE's and the calibration's).  Writes
``results/main_job.{json,md,png}`` (spectrograms of the first 6 s side by side).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from benchmarks.common import RESULTS, write_results
from benchmarks.eval_generation import score_row
from ddsp_textures.dsp.audio import save_audio
from ddsp_textures.inference.generation import generate
from ddsp_textures.metrics import Yardstick
from ddsp_textures.plotting import spectrogram
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.textures import make_texture
from ddsp_textures.training.config import parse_config
from ddsp_textures.training.rundir import load_history, load_run
from ddsp_textures.training.trainer import train

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "quick_fire.json"
FS, L, HALF_S = 44100, 16384, 40.0
TEXENV = {"param_per_env": 128, "epochs": 25}
_SHIPPED = {"frame_size": 16384, "hop_size": 8192, "sampling_rate": 44100, "sequence_length": 4,
            "hidden_size_enc": 64, "hidden_size_dec": 128, "deepness_enc": 2, "deepness_dec": 2,
            "N_filter_bank": 32, "M_filter_bank": 6, "loss_function": "texstat", "alpha": [10, 1, 0.1, 0.01],
            "beta": [1, 20, 20, 20, 20], "batch_size": 4, "validation_fraction": 0.2, "seed": 0}
SHIPPED_BEFORE: dict[str, dict] = {
    "TexDSP (shipped before)": {**_SHIPPED, "architecture": "TexDSP", "positive_dc": True, "learning_rate": 0.002,
                                "features_list": ["energy_bands", "centroid", "rate"], **TEXENV},
    "P-VAE, 4 grain types (shipped before)": {
        **_SHIPPED, "architecture": "PVAE", "features_list": ["energy_bands", "centroid", "rate", "events"],
        "atoms_number": 4, "vae_grain_size": 1024, "vae_param_per_env": 32, "vae_epochs": 30, "epochs": 10,
        "learning_rate": 0.002},
}
"""The main job's earlier recipes in full, as ``configs/quick_fire.json`` shipped them (at e2b130b and 06ac204), so
that the "before" rows do not move when the file does."""
CANDIDATES: dict[str, dict] = {
    **{name: {} for name in SHIPPED_BEFORE},
    "P-VAE (shipped)": {},
    "HYBRID": {"architecture": "HYBRID", **TEXENV},
    "P-VAE, 4 grain types, 2048-sample grains": {"atoms_number": 4, "vae_grain_size": 2048},
    "P-VAE, 4 grain types, 64 dictionary grains": {"atoms_number": 4, "vae_dictionary_size": 64},
}
"""Recipes: ``configs/quick_fire.json`` updated with these keys."""


def recipe(name: str, wav: Path, workdir: Path) -> dict:
    """The main job's config for candidate ``name``, training on ``wav``."""
    raw = SHIPPED_BEFORE.get(name) or json.loads(CONFIG.read_text())
    return {**raw, **CANDIDATES[name], "audio_path": str(wav), "models_directory": str(workdir),
            "run_name": "".join(c for c in name if c.isalnum())}


def draw(signals: dict[str, np.ndarray], path: Path, seconds: float = 6.0) -> None:
    """Spectrograms of the first ``seconds``, one row per signal, at unit RMS."""
    fig, axes = plt.subplots(len(signals), 1, figsize=(10, 1.9 * len(signals)), sharex=True)
    for ax, (label, x) in zip(axes, signals.items(), strict=True):
        x = np.asarray(x)[: int(seconds * FS)]
        spectrogram(ax, x / (np.sqrt(np.mean(x**2)) + 1e-12), FS, label, max_freq=16000)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES)[:4], choices=list(CANDIDATES),
                        help="default: the first four (the last two: results/main_job_variants.md)")
    parser.add_argument("--seed", type=int, default=None, help="every recipe with this training seed")
    parser.add_argument("--name", default="main_job", help="results file name")
    args = parser.parse_args()
    torch.manual_seed(0)
    fire = make_texture("fire", 2 * HALF_S, FS, seed=11)
    half = len(fire) // 2
    first, second = fire[:half], fire[half:]
    measure = TexStat(L, FS, 16, 6)
    stick, held = Yardstick(first, FS, measure, floor=second), Yardstick(second, FS, measure, floor=first)
    floor, held_floor = stick.floor_scores(), held.floor_scores()
    signals = {"original": first, "second half (floor)": second}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "fire.wav"
        save_audio(wav, first, FS)
        for name in args.candidates:
            keys = recipe(name, wav, Path(tmp))
            if args.seed is not None:
                keys["seed"] = args.seed
            cfg = parse_config(keys, CONFIG.parent)
            start = time.perf_counter()
            run = train(cfg, progress=False)
            seconds = time.perf_counter() - start
            model, _ = load_run(run)
            val = load_history(run)["val_loss"]
            best = min(range(1, len(val)), key=val.__getitem__)
            learned = f"{val[0]:.2f} → {val[best]:.2f} (epoch {best}), last {val[-1]:.2f}"
            y = generate(model, HALF_S, first)
            signals[f"{name} generate"] = y
            row = score_row(stick, floor, y, (held, held_floor))
            rows.append({"candidate": name, "architecture": cfg.architecture, "train_s": seconds, "validation": learned,
                         **row})
            print(f"{name}: trained in {seconds:.0f} s; KAD ×{row['kad_ratio']:.2f}, "
                  f"mel FD ×{row['mel_fd_ratio']:.2f}, onsets {row['onset_rate']:.2f}/{row['reference_rate']:.2f}, "
                  f"periodicity {row['periodicity']:.2f}, spread {row['spread']:.2f}", flush=True)
    draw(signals, RESULTS / f"{args.name}.png")
    columns = [("candidate", "candidate"), ("architecture", "architecture"), ("train_s", "training (s)"),
               ("validation", "validation: start → best, last"),
               ("kad_ratio", "KAD ÷ floor"), ("mel_fd_ratio", "log-mel FD ÷ floor"),
               ("heldout_kad_ratio", "held-out KAD ÷ floor"), ("heldout_mel_fd_ratio", "held-out log-mel FD ÷ floor"),
               ("onset_rate", "onsets/s"), ("reference_rate", "original onsets/s"), ("peak_to_median", "peak/median"),
               ("reference_peak_to_median", "original peak/median"),
               ("periodicity", "periodicity"), ("reference_periodicity", "original periodicity"),
               ("spread", "frame spread"), ("targets_met", "targets met")]
    notes = (f"Procedural fire (seed 11): the first {HALF_S:g} s train each recipe (configs/quick_fire.json with "
             f"the candidate's keys, its own epochs, {torch.get_num_threads()} threads) and are the reference; the "
             "next 40 s are the floor. 'generate' is 40 s with the defaults. Targets: KAD ≤ 1.5×, log-mel FD ≤ 2×, "
             f"onset rate ±25 %, periodicity ≤ original + 0.1, spread within ±20 %. Spectrograms: `{args.name}.png`.")
    write_results(args.name, "The main job's recipe: TexDSP, P-VAE and hybrid on fire", rows, columns, notes)


if __name__ == "__main__":
    main()
