"""How far the time-free targets are from what an event model could ever know: the recording's own events and
bed, re-timed, as bounds (issue 29, item 5: "where a target is out of reach, measure the bound").

    python -m benchmarks.eval_generation_bound [--quick]

The halves of ``eval_generation`` (the shared recordings and procedural fire, applause, rain drops and wind;
40 s each, ``--quick`` 20 s).  Every candidate is made from the **second half** and scored, as there, against
the first half with the second as the floor (the second half itself scores 1 by construction).  The second
half is split into its events and its bed (:func:`~ddsp_textures.synths.transients.analyze_transients`, one
atom per event so the events are exact; each detector of :data:`~ddsp_textures.synths.transients.DETECTORS`,
the closer in log-mel FD kept), the bed's gates filled by the bed 50 ms later (no trace of the event times),
then:

* *original bed + events at Poisson times*: the recording's own bed and events, the events redrawn uniformly
  over the half (a Poisson process at their own rate) — what an event model with perfect grains, amplitudes
  and rate, and a perfect bed, could reach without knowing the event times;
* *stationary bed + events at Poisson times*: the bed replaced by noise of its long-term spectrum at its own
  level in each frame of ``L`` samples (crossfaded) — the P-VAE's background, perfect at the frame level;
* *TexEnv bed + events at Poisson times*: the bed resynthesised by TexEnv (its own envelopes, 128 parameters,
  equalised) — a perfect hybrid;
* *TexEnv resynthesis*, no layer — the DSP resynthesis of ``eval_generation`` (the noise-carrier bound of
  TexDSP without events).

Writes ``results/generation_bound[_quick].{json,md}``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks.common import write_results
from benchmarks.eval_event_bound import fill_gates, retimed
from benchmarks.eval_generation import FS, L, halves
from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.dsp.spectral import equalize_to
from ddsp_textures.metrics import Yardstick, relative
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths import texenv_resynthesize
from ddsp_textures.synths.transients import (
    DETECTORS,
    analyze_transients,
    detector,
    synthesize_transients,
)

PARAM_PER_ENV = 128
MAX_ATOMS = 100_000          # one atom per event: the events are the recording's own


def stationary(bed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Noise with ``bed``'s long-term power spectrum, at ``bed``'s RMS in each frame of ``L`` samples
    (interpolated linearly between frame centres)."""
    n = bed.shape[0]
    magnitude = torch.fft.rfft(bed).abs()
    kernel = torch.ones(33, dtype=bed.dtype) / 33                   # smooth the periodogram over 33 bins
    smooth = torch.nn.functional.conv1d(magnitude.pow(2)[None, None], kernel[None, None], padding=16)[0, 0]
    noise = torch.fft.irfft(torch.fft.rfft(torch.randn(n, generator=generator, dtype=bed.dtype)) * smooth.sqrt(),
                            n=n)
    frames = max(1, n // L)
    centres = (torch.arange(frames, dtype=bed.dtype) + 0.5) * L
    level = torch.stack([bed[i * L:(i + 1) * L].pow(2).mean().sqrt() for i in range(frames)])
    noise_level = torch.stack([noise[i * L:(i + 1) * L].pow(2).mean().sqrt() for i in range(frames)])
    gain = torch.tensor(np.interp(np.arange(n), centres.numpy(), (level / noise_level.clamp_min(1e-12)).numpy()))
    return noise * gain


def candidates(x: torch.Tensor, name: str, seed: int = 0) -> tuple[dict[str, torch.Tensor], float]:
    """The bounds made from ``x`` (the second half) with detector ``name``, and its events per second."""
    generator = torch.Generator().manual_seed(seed)
    layer, residual = analyze_transients(x, FS, MAX_ATOMS, generator=generator, **detector(name))
    bed = fill_gates(layer, residual, name, FS)
    events = synthesize_transients(retimed(layer, "poisson", generator))
    texenv = texenv_resynthesize(bed, erb_bank(L, FS, 16), PARAM_PER_ENV, transients=False, equalize=False,
                                 generator=torch.Generator().manual_seed(seed))
    return {"original bed + events at Poisson times": bed + events,
            "stationary bed + events at Poisson times": stationary(bed, generator) + events,
            "TexEnv bed + events at Poisson times": equalize_to(texenv + events, x, FS)}, layer.rate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20-s halves")
    args = parser.parse_args()
    torch.manual_seed(0)
    measure = TexStat(L, FS, 16, 6)
    rows = []
    for texture, (first, second) in halves(args.quick).items():
        stick = Yardstick(first, FS, measure, floor=second)
        floor = stick.floor_scores()
        x = torch.tensor(np.ascontiguousarray(second, dtype=np.float64))

        def score(y: torch.Tensor | np.ndarray, label: str, name: str = "", rate: float = float("nan"),
                  texture: str = texture, stick: Yardstick = stick, floor: dict = floor) -> dict:
            y = torch.as_tensor(y).double().numpy()
            scores = stick.scores(y)
            rel = relative(scores, floor, stick.events)
            return {"texture": texture, "candidate": label, "detector": name, "events_per_s": rate, **scores, **rel,
                    "reference_rate": stick.events["onset_rate"],
                    "reference_periodicity": stick.events["periodicity"]}

        rows.append(score(x, "second half (floor)"))
        plain = texenv_resynthesize(x, erb_bank(L, FS, 16), PARAM_PER_ENV, transients=False,
                                    generator=torch.Generator().manual_seed(0))
        rows.append(score(plain, "TexEnv resynthesis, no layer"))
        best: dict[str, dict] = {}
        for name in DETECTORS:
            made, rate = candidates(x, name)
            for label, y in made.items():
                row = score(y, label, name, rate)
                if label not in best or row["mel_fd_ratio"] < best[label]["mel_fd_ratio"]:
                    best[label] = row
        rows += list(best.values())
        for row in rows[-5:]:
            print(f"{texture} | {row['candidate']} ({row['detector']}): mel FD ×{row['mel_fd_ratio']:.2f}, "
                  f"KAD ×{row['kad_ratio']:.2f}, onsets {row['onset_rate']:.2f}/{row['reference_rate']:.2f}",
                  flush=True)
    suffix = "_quick" if args.quick else ""
    columns = [("texture", "texture"), ("candidate", "candidate"), ("detector", "detector"),
               ("events_per_s", "events/s"), ("mel_fd_ratio", "log-mel FD ÷ floor"), ("kad_ratio", "KAD ÷ floor"),
               ("onset_rate", "onsets/s"), ("reference_rate", "original onsets/s"), ("periodicity", "periodicity"),
               ("spread", "frame spread")]
    notes = ("Every candidate is made from the second half and scored against the first, the second half being "
             "the floor; the events are the second half's own (one atom each), re-timed uniformly; the bed's "
             "gates are filled by the bed 50 ms later. Per row the detector with the lower log-mel FD.")
    write_results(f"generation_bound{suffix}", "Bounds on the time-free targets: the recording's own events and bed",
                  rows, columns, notes)


if __name__ == "__main__":
    main()
