"""Where a P-VAE's log-mel Fréchet distance comes from, and what a spectral fix would move: ``python -m
benchmarks.eval_mel_gap [--textures ...]``.

For each texture of :mod:`benchmarks.eval_generation` (quick mode: 20-s halves, a P-VAE trained 8 epochs on the
first half with the main job's recipe), the model's ``generate`` output and its resynthesis of the second half
are compared with the first half:

* the log-mel FD split into its mean term ``|μ_a − μ_b|²`` and what is left when the candidate's log-mel mean is
  moved onto the reference's (a perfect fixed equaliser in the log-mel domain);
* the long-term spectrum (1/3 octaves, 100 Hz–16 kHz, both at unit RMS): how far an equaliser on *power* has to
  move, and the FD after one (:func:`~ddsp_textures.dsp.spectral.equalize_to`, ±12 dB);
* oracles on the resynthesis, which is aligned with its input: each 16384-sample frame's 16 cochlear bands given
  the input frame's band RMS, and constant band gains for the whole signal (the long-term band powers);
* the mean correlation between log-mel bands over time, reference against candidate.

Writes ``results/mel_gap.{json,md}``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import write_results
from benchmarks.eval_generation import FS, L, config, halves
from ddsp_textures.dsp.audio import save_audio
from ddsp_textures.dsp.filterbanks import FilterBank
from ddsp_textures.dsp.spectral import equalize_to
from ddsp_textures.inference.generation import generate
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.metrics import third_octave_deviation_db
from ddsp_textures.metrics.distances import frechet_distance
from ddsp_textures.metrics.mel import FLOOR_DB, log_mel_spectrogram, mel_frechet_distance, unit_rms
from ddsp_textures.training.rundir import load_run
from ddsp_textures.training.trainer import train

N_BANDS, MAX_GAIN = 16, 10.0


def columns(x: np.ndarray) -> np.ndarray:
    """Log-mel columns ``(frames, 64)`` of ``x`` at unit RMS, as the log-mel FD sees them."""
    return log_mel_spectrogram(unit_rms(x), FS, floor_db=FLOOR_DB).T


def band_correlation(c: np.ndarray) -> float:
    """Mean correlation over time between pairs of log-mel bands."""
    r = np.corrcoef(c.T)
    return float(np.nanmean(r[np.triu_indices(r.shape[0], 1)]))


def band_oracles(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``y`` with each frame's cochlear bands at ``x``'s frame band RMS, and with constant band gains (gains
    within ×1/10…×10, residual bands untouched)."""
    count = min(len(x), len(y)) // L
    bank = FilterBank(L, FS, N_BANDS, 20.0, FS / 2)
    xs = torch.tensor(x[: count * L], dtype=torch.float64).reshape(count, L)
    ys = torch.tensor(y[: count * L], dtype=torch.float64).reshape(count, L)
    px, py = bank.band_power(xs), bank.band_power(ys).clamp_min(1e-20)
    frame_gains = (px / py).sqrt().clamp(1 / MAX_GAIN, MAX_GAIN)
    fixed = (px.mean(0) / py.mean(0)).sqrt().clamp(1 / MAX_GAIN, MAX_GAIN).expand(count, -1).clone()
    for g in (frame_gains, fixed):
        g[:, 0], g[:, -1] = 1.0, 1.0
    return (bank.apply_band_gains(ys, frame_gains).reshape(-1).numpy(),
            bank.apply_band_gains(ys, fixed).reshape(-1).numpy())


def row(name: str, label: str, reference: np.ndarray, y: np.ndarray, floor: float,
        aligned: np.ndarray | None = None) -> dict:
    """The scores of candidate ``y`` against ``reference`` (log-mel columns of each signal computed once);
    with the band oracles where ``y`` is a resynthesis of ``aligned``."""
    a, b = columns(reference), columns(y)
    fd = frechet_distance(a, b)
    moved = b - b.mean(0) + a.mean(0)
    deviation = third_octave_deviation_db(unit_rms(reference), unit_rms(y), FS)
    eq = equalize_to(torch.tensor(unit_rms(y)), torch.tensor(unit_rms(reference)), FS, max_db=12.0).numpy()
    out = {"texture": name, "candidate": label, "fd_ratio": fd / floor,
           "mean_share": float(((a.mean(0) - b.mean(0)) ** 2).sum()) / fd,
           "mean_moved_ratio": frechet_distance(a, moved) / floor,
           "spectrum_dev_db": float(np.abs(deviation).max()),
           "power_eq_ratio": frechet_distance(a, columns(eq)) / floor,
           "frame_bands_ratio": float("nan"), "fixed_bands_ratio": float("nan"),
           "band_corr": band_correlation(b), "reference_band_corr": band_correlation(a)}
    if aligned is not None:
        per_frame, fixed = band_oracles(y, aligned)
        out["frame_bands_ratio"] = frechet_distance(a, columns(per_frame)) / floor
        out["fixed_bands_ratio"] = frechet_distance(a, columns(fixed)) / floor
    print("  " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else str(v) for k, v in out.items()), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--textures", nargs="+", default=None, help="a subset of the textures")
    args = parser.parse_args()
    torch.manual_seed(0)
    sounds = halves(quick=True, textures=args.textures)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (first, second) in sounds.items():
            floor = mel_frechet_distance(first, second, FS)
            wav = Path(tmp) / f"{name}.wav"
            save_audio(wav, first, FS)
            model, _ = load_run(train(config("PVAE", wav, 8, Path(tmp)), progress=False))
            print(f"{name}: floor log-mel FD {floor:.1f}", flush=True)
            rows.append(row(name, "resynthesis", first, resynthesize(model, second), floor, aligned=second))
            rows.append(row(name, "generate", first, generate(model, len(second) / FS, first), floor))
    cols = [("texture", "texture"), ("candidate", "P-VAE"), ("fd_ratio", "log-mel FD ÷ floor"),
            ("mean_share", "mean term's share"), ("mean_moved_ratio", "log-mel mean moved ÷ floor"),
            ("spectrum_dev_db", "max 1/3-oct. deviation (dB)"), ("power_eq_ratio", "power EQ ÷ floor"),
            ("frame_bands_ratio", "frame band RMS ÷ floor"), ("fixed_bands_ratio", "fixed band gains ÷ floor"),
            ("band_corr", "band correlation"), ("reference_band_corr", "original band correlation")]
    notes = ("P-VAE, 8 epochs on the first 20-s half (quick recipe of eval_generation); scored against that "
             "half, ratios to the floor (the second half). Oracles on the resynthesis of the second half use its "
             "own frames' band RMS (not available to generation).")
    write_results("mel_gap", "Where the P-VAE's log-mel distance comes from", rows, cols, notes)


if __name__ == "__main__":
    main()
