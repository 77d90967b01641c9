"""The DSP resynthesis's three slowest parts as they were before issue "Play it live" (speed), kept as the
"before" column of ``bench_resynthesis.py``: carriers projected in double precision with ``polar``/``angle``,
the detection function over all bands in double precision, and envelopes through ``Tensor.abs``.  Not part of
the library.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import torch

from ddsp_textures.dsp.filterbanks import FilterBank, erb_bank
from ddsp_textures.dsp.framing import overlap_add
from ddsp_textures.dsp.numerics import safe_divide
from ddsp_textures.synths import analysis, transients
from ddsp_textures.synths.carriers import carrier_magnitudes


def legacy_make_carriers(bank: FilterBank, generator: torch.Generator | None = None,
                         spectrum: torch.Tensor | None = None, iterations: int = 30) -> torch.Tensor:
    magnitude = carrier_magnitudes(bank, spectrum).cpu()
    length = bank.length
    noise = torch.randn(bank.n_bands, length, generator=generator, dtype=torch.float64)
    spectrum_ = torch.fft.rfft(noise, dim=-1) * magnitude
    one_sided = torch.zeros(length // 2 + 1, dtype=torch.float64)
    one_sided[0] = 1
    one_sided[1: (length + 1) // 2] = 2
    if length % 2 == 0:
        one_sided[length // 2] = 1
    for _ in range(iterations):
        analytic = torch.fft.ifft(spectrum_ * one_sided, n=length, dim=-1)
        flat = safe_divide(analytic.real, analytic.abs(), eps=1e-12)
        spectrum_ = torch.polar(magnitude, torch.angle(torch.fft.rfft(flat, dim=-1)))
    carriers = torch.fft.irfft(spectrum_, n=length, dim=-1)
    carriers = carriers * safe_divide(torch.tensor(0.5 ** 0.5, dtype=torch.float64),
                                      carriers.pow(2).mean(-1, keepdim=True).sqrt())
    return carriers.float()


def legacy_envelopes(self: FilterBank, x: torch.Tensor) -> torch.Tensor:
    filters = self.one_sided.to(device=x.device, dtype=x.dtype)
    spectrum = torch.fft.rfft(x, dim=-1).unsqueeze(-2) * filters
    return torch.fft.ifft(spectrum, n=self.length, dim=-1).abs()


def legacy_detection_function(x: torch.Tensor, fs: float, low_hz: float = 2000.0, n_bands: int = 16
                              ) -> torch.Tensor:
    n = x.shape[-1]
    length = min(transients.DETECTION_FRAME, 2 * max(2, n // 2))
    bank = erb_bank(length, fs, n_bands)
    chosen = bank.cutoffs[1:-1] >= low_hz
    hop = length // 2
    n_frames = -(-n // hop) + 1
    padded = torch.nn.functional.pad(x.double(), (hop, (n_frames + 1) * hop - n - hop))
    frames = padded.unfold(-1, length, hop)
    envelopes = legacy_envelopes(bank, frames)[:, chosen].sum(-2)
    return overlap_add(envelopes, hop, "hann")[hop: hop + n]


@contextlib.contextmanager
def legacy_resynthesis() -> Iterator[None]:
    """Within the block, the DSP resynthesis runs its earlier carriers, detection function and envelopes."""
    with mock.patch.object(analysis, "make_carriers", legacy_make_carriers), \
            mock.patch.object(transients, "detection_function", legacy_detection_function), \
            mock.patch.object(FilterBank, "envelopes", legacy_envelopes):
        yield
