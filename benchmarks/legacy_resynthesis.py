"""The DSP resynthesis as it was before the small-grid round of issue "Play it live" (speed), kept as the
"before" column of ``bench_resynthesis.py``: carriers projected on the full grid of ``L`` samples, envelope
coefficients and the transient detection function from full-rate envelopes, and ``transients="auto"``
resynthesising all three candidates of the whole input.  Not part of the library.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from unittest import mock

import torch

from ddsp_textures.dsp.filterbanks import FilterBank, erb_bank, one_sided_weights
from ddsp_textures.dsp.framing import overlap_add
from ddsp_textures.dsp.numerics import safe_divide
from ddsp_textures.metrics import closest_candidate
from ddsp_textures.synths import analysis, transients
from ddsp_textures.synths.carriers import carrier_magnitudes
from ddsp_textures.synths.transients import DETECTORS

from .legacy_numerics import previous_modulus, previous_numerics


def previous_make_carriers(bank: FilterBank, generator: torch.Generator | None = None,
                           spectrum: torch.Tensor | None = None, iterations: int = 30) -> torch.Tensor:
    magnitude = carrier_magnitudes(bank, spectrum).cpu()
    length = bank.length
    noise = torch.randn(bank.n_bands, length, generator=generator, dtype=torch.float64)
    spectrum_ = (torch.fft.rfft(noise, dim=-1) * magnitude).to(torch.complex64)
    magnitude = magnitude.float()
    one_sided = one_sided_weights(length, torch.float32)
    for _ in range(iterations):
        analytic = torch.fft.ifft(spectrum_ * one_sided, n=length, dim=-1)
        flat = safe_divide(analytic.real, previous_modulus(analytic), eps=1e-12)
        rotated = torch.fft.rfft(flat, dim=-1)
        spectrum_ = rotated * safe_divide(magnitude, rotated.abs(), eps=1e-30)
    carriers = torch.fft.irfft(spectrum_, n=length, dim=-1).double()
    carriers = carriers * safe_divide(torch.tensor(0.5 ** 0.5, dtype=torch.float64),
                                      carriers.pow(2).mean(-1, keepdim=True).sqrt())
    return carriers.float()


def previous_texenv_analysis(x: torch.Tensor, bank: FilterBank, n_coeffs: int) -> torch.Tensor:
    return torch.fft.rfft(bank.envelopes(x), dim=-1, norm="ortho")[..., :n_coeffs]


def previous_detection_function(x: torch.Tensor, fs: float, low_hz: float = 2000.0, n_bands: int = 16
                                ) -> torch.Tensor:
    n = x.shape[-1]
    length = min(transients.DETECTION_FRAME, 2 * max(2, n // 2))
    bank = erb_bank(length, fs, n_bands)
    chosen = bank.cutoffs[1:-1] >= low_hz
    hop = length // 2
    n_frames = -(-n // hop) + 1
    padded = torch.nn.functional.pad(x.float(), (hop, (n_frames + 1) * hop - n - hop))
    envelopes = bank.envelopes(padded.unfold(-1, length, hop), chosen).sum(-2)
    return overlap_add(envelopes, hop, "hann")[hop: hop + n]


def previous_choose_transients(x: torch.Tensor, render: Callable[[str | bool, torch.Tensor], torch.Tensor | None],
                               bank: FilterBank) -> torch.Tensor:
    candidates = [render(False, x)]
    if x.shape[-1] < bank.length:
        return candidates[0]
    candidates += [y for y in (render(name, x) for name in DETECTORS) if y is not None]
    return candidates[0] if len(candidates) == 1 else closest_candidate(x, candidates, bank)


@contextlib.contextmanager
def legacy_resynthesis() -> Iterator[None]:
    """Within the block, the DSP resynthesis runs its earlier carriers, envelope analysis, detection and chooser."""
    with mock.patch.object(analysis, "make_carriers", previous_make_carriers), \
            mock.patch.object(analysis, "texenv_analysis", previous_texenv_analysis), \
            mock.patch.object(analysis, "choose_transients", previous_choose_transients), \
            mock.patch.object(transients, "detection_function", previous_detection_function), \
            previous_numerics():
        yield
