"""Is a noise carrier what keeps a TexEnv bed far from the recording in log-mel FD?  The bed with the
recording's own fine structure as carriers, measured (issue 29: "what would move it").

    python -m benchmarks.eval_fine_structure [--quick]

The halves of ``eval_generation`` (40 s each, ``--quick`` 20 s).  The second half is analysed frame by frame
into TexEnv envelopes (16 bands, frames of ``L``, 128 parameters per band, its own exact envelopes) and
resynthesised twice, then equalised to it and scored against the first half, with the second as the floor:

* *noise carriers*: the library's carriers (flat Hilbert envelope, the band's magnitude response shaped by the
  half's long-term spectrum), shifted at random per frame, as :func:`~ddsp_textures.synths.texenv_resynthesize`
  without a layer does;
* *the recording's fine structure*: per band, the cosine of the second half's instantaneous phase (its
  analytic signal over the whole half divided by its modulus), band-limited again by the band's response and
  scaled to the carriers' RMS, cut for each frame at a random place of the half — the recording's own fine
  structure, but not at the place its envelope came from.

Writes ``results/fine_structure[_quick].{json,md}``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.common import write_results
from benchmarks.eval_generation import FS, L, halves
from ddsp_textures.dsp.filterbanks import FilterBank, erb_bank
from ddsp_textures.dsp.framing import half_overlap_frames, overlap_add, random_shifts
from ddsp_textures.dsp.spectral import equalize_to, long_term_spectrum
from ddsp_textures.metrics import mel_frechet_distance
from ddsp_textures.synths import make_carriers, texenv_analysis, texenv_synthesis

PARAM_PER_ENV = 128
N_BANDS = 16


def fine_structure(x: torch.Tensor, bank: FilterBank) -> torch.Tensor:
    """``(N, n)``: each band's cosine of the instantaneous phase of ``x`` (even length ``n``), band-limited by
    the band's response on the grid of ``n`` and scaled to RMS ``1/√2``."""
    n = x.shape[-1]
    long_bank = erb_bank(n, FS, bank.n_bands, low=bank.low, high=bank.high)
    analytic = torch.fft.ifft(torch.fft.rfft(x).unsqueeze(0) * long_bank.one_sided.double(), n=n, dim=-1)
    phase = analytic.real / analytic.abs().clamp_min(1e-12)
    limited = torch.fft.irfft(torch.fft.rfft(phase, dim=-1) * long_bank.filters[1:-1].double(), n=n, dim=-1)
    return limited * (0.5**0.5) / limited.pow(2).mean(-1, keepdim=True).sqrt()


def bed(x: torch.Tensor, bank: FilterBank, carriers_of: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """``x``'s TexEnv analysis resynthesised with the carriers ``carriers_of(frame)`` ``(N, L)``, overlap-added."""
    frames = half_overlap_frames(x, L)
    coeffs = texenv_analysis(frames, bank, PARAM_PER_ENV // 2)
    out = torch.cat([texenv_synthesis(coeffs[f:f + 1], carriers_of(f)) for f in range(frames.shape[0])])
    return overlap_add(out, L // 2, "sqrt_hann")[: x.shape[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20-s halves")
    args = parser.parse_args()
    rows = []
    for name, (first, second) in halves(args.quick).items():
        x = torch.tensor(second[: len(second) - len(second) % 2], dtype=torch.float64)
        bank = erb_bank(L, FS, N_BANDS).double()
        generator = torch.Generator().manual_seed(0)
        noise = make_carriers(bank, generator, long_term_spectrum(x, L)).double()
        count = half_overlap_frames(x, L).shape[0]
        shifts = random_shifts(count, L, generator, hop=L // 2)
        fine = fine_structure(x, bank)
        starts = np.random.default_rng(0).integers(0, x.shape[0] - L, count)
        candidates = {
            "noise carriers": bed(x, bank, lambda f, c=noise, s=shifts: torch.roll(c, int(s[f]), -1)),
            "the recording's fine structure": bed(x, bank, lambda f, c=fine, s=starts: c[:, s[f]: s[f] + L])}
        floor = mel_frechet_distance(first, second, FS)
        for label, y in candidates.items():
            y = equalize_to(y, x, FS).float().numpy()
            ratio = mel_frechet_distance(first, y, FS) / floor
            rows.append({"texture": name, "carriers": label, "mel_fd_ratio": ratio})
            print(rows[-1], flush=True)
    notes = ("The second half's own TexEnv envelopes (16 bands, 128 parameters) over two kinds of carriers, "
             "equalised to it, scored against the first half; log-mel FD divided by the second half's (the floor).")
    write_results(f"fine_structure{'_quick' if args.quick else ''}", "A TexEnv bed over the recording's own fine "
                  "structure", rows, [("texture", "texture"), ("carriers", "carriers"),
                                      ("mel_fd_ratio", "log-mel FD ÷ floor")], notes)


if __name__ == "__main__":
    main()
