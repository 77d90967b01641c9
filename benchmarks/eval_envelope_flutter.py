"""The TexDSP bed's flutter, and three candidates against it: ``python -m benchmarks.eval_envelope_flutter``.

A TexDSP model decodes nearly the same envelope in every frame (its Fourier phases agree from frame to frame),
and that envelope's power sits in a few lines, so a resynthesis without a click layer pulses at 65–115 ms where
the recording does not.  Candidates, each scored with the time-free yardstick of ``eval_generation`` (20-s
halves, the main job's recipe for 8 epochs, the same textures):

* **random phases** at synthesis: each frame's coefficient ``k ≥ 1`` turned by a random angle, the same for
  every band (cross-band correlations and every band's modulation power are kept);
* **spread lines** at synthesis: each band's power over the Fourier lines spread over the lines within a
  factor :data:`SPREAD` (equal power per octave), the phases kept;
* **spread lines, trained**: the same spreading inside the model while it trains, so it learns with it.

Writes ``results/envelope_flutter.{json,md}``.  The candidates live here, not in the library: none is adopted
(``benchmarks/README.md``, *The TexDSP bed's flutter*).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import write_results
from benchmarks.eval_generation import FS, N_BANDS, L, config, halves
from ddsp_textures.dsp.audio import save_audio
from ddsp_textures.dsp.framing import frame_signal, zscore
from ddsp_textures.inference.generation import generate
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.metrics import Yardstick, relative
from ddsp_textures.models import TexDSP
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.training.rundir import load_run
from ddsp_textures.training.trainer import train

SPREAD = 2.0


def spread_kernel(n_coeffs: int, ratio: float = SPREAD) -> torch.Tensor:
    """``(P, P)``: column ``j`` spreads line ``j``'s power over the lines ``k ∈ [j/ratio, j·ratio]``, ``k ≥ 1``,
    with weights ``∝ 1/k`` summing to 1 (DC stays where it is)."""
    k = torch.arange(n_coeffs, dtype=torch.float64)
    kernel = torch.zeros(n_coeffs, n_coeffs, dtype=torch.float64)
    kernel[0, 0] = 1.0
    for j in range(1, n_coeffs):
        w = ((k >= j / ratio) & (k <= j * ratio) & (k >= 1)).double() / k.clamp_min(1)
        kernel[:, j] = w / w.sum()
    return kernel.float()


def spread_lines(c: torch.Tensor) -> torch.Tensor:
    """Coefficients ``(..., N, P)`` with each band's power spread over neighbouring lines, phases kept."""
    power = (c.real.pow(2) + c.imag.pow(2)) @ spread_kernel(c.shape[-1]).T
    return c / (c.abs() + 1e-6) * (power + 1e-12).sqrt()


def random_phases(c: torch.Tensor) -> torch.Tensor:
    """Coefficients ``(..., N, P)`` with line ``k ≥ 1`` of each frame turned by one random angle for all bands."""
    angle = 2 * math.pi * torch.rand((*c.shape[:-2], 1, c.shape[-1]))
    angle[..., 0] = 0.0
    return c * torch.polar(torch.ones_like(angle), angle)


class _Decoding:
    """``TexDSP.decode`` followed by ``change`` while the context is open (as it is for ``None``)."""

    def __init__(self, change) -> None:  # noqa: ANN001
        self.change, self.original = change, TexDSP.decode

    def __enter__(self) -> None:
        original, change = self.original, self.change
        if change is not None:
            TexDSP.decode = lambda model, latent: change(original(model, latent))

    def __exit__(self, *exc: object) -> None:
        TexDSP.decode = self.original


def phase_agreement(model: TexDSP, x: np.ndarray) -> float:
    """Mean over bands and lines ``k ≥ 1`` of ``|mean over frames of exp(iφ)|``: 1 when every frame decodes the
    same phases, about ``1/√F`` for random ones."""
    frames = zscore(frame_signal(torch.tensor(x, dtype=torch.float32), L, L // 2))
    with torch.no_grad():
        c = model.decode(model.encode([f.unsqueeze(0) for f in model.features(frames)])[0])[0]
    return float(torch.exp(1j * c.angle()).mean(0).abs()[:, 1:].mean())


def main() -> None:
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (first, second) in halves(True).items():
            stick = Yardstick(first, FS, TexStat(L, FS, N_BANDS, 6), floor=second)
            floor = stick.floor_scores()
            wav = Path(tmp) / f"{name}.wav"
            save_audio(wav, first, FS)
            models = {}
            for label, change in (("as trained", None), ("spread lines, trained", spread_lines)):
                cfg = config("TexDSP", wav, 8, Path(tmp))
                cfg["run_name"] += "_spread" if change else ""
                start = time.perf_counter()
                with _Decoding(change):
                    models[label] = load_run(train(cfg, progress=False))[0].eval()
                print(f"{name} {label}: trained in {time.perf_counter() - start:.0f} s", flush=True)
            variants = [("as trained", None, "as trained"), ("random phases", random_phases, "as trained"),
                        ("spread lines", spread_lines, "as trained"),
                        ("spread lines, trained", spread_lines, "spread lines, trained")]
            seconds = len(second) / FS
            for label, change, trained in variants:
                model = models[trained]
                with _Decoding(change):
                    torch.manual_seed(0)
                    outputs = {"resynthesis": resynthesize(model, second),
                               "generate, no clicks": generate(model, seconds, first, transients=None),
                               "generate": generate(model, seconds, first)}
                    agreement = phase_agreement(model, second)
                for what, y in outputs.items():
                    scores = stick.scores(y)
                    rel = relative(scores, floor, stick.events)
                    rows.append({"texture": name, "candidate": label, "output": what, "kad_ratio": rel["kad_ratio"],
                                 "mel_fd_ratio": rel["mel_fd_ratio"], "periodicity": scores["periodicity"],
                                 "periodicity_lag_ms": 1000 * scores["periodicity_lag_s"],
                                 "reference_periodicity": stick.events["periodicity"],
                                 "phase_agreement": agreement})
                    print(f"  {name} | {label} | {what}: KAD ×{rel['kad_ratio']:.2f}, mel FD "
                          f"×{rel['mel_fd_ratio']:.2f}, periodicity {scores['periodicity']:.2f}", flush=True)
    columns = [("texture", "texture"), ("candidate", "candidate"), ("output", "output"),
               ("kad_ratio", "KAD ÷ floor"), ("mel_fd_ratio", "log-mel FD ÷ floor"), ("periodicity", "periodicity"),
               ("periodicity_lag_ms", "at (ms)"), ("reference_periodicity", "original periodicity"),
               ("phase_agreement", "phase agreement across frames")]
    notes = ("TexDSP, the main job's recipe, 8 epochs on the first 20-s half; scored against it, ratios to the "
             "second half's (the floor). 'generate' places the reference's clicks (the default); 'generate, no "
             "clicks' and 'resynthesis' are the bed alone. Phase agreement: 1 = every frame decodes the same "
             "envelope phases.")
    write_results("envelope_flutter", "The TexDSP bed's flutter: candidates", rows, columns, notes)


if __name__ == "__main__":
    main()
