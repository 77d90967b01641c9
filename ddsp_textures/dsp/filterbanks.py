"""Half-cosine filterbanks built in the frequency domain (book chapter: *Filterbanks and envelopes*).

A bank designed for signal length ``L`` and sample rate ``fs`` is a real matrix ``H`` of shape
``(L//2 + 1, N + 2)`` over the rfft bins: column 0 is a low-pass residual, columns ``1..N`` are half-cosine
band-pass filters on a warped axis (ERB number, log10 or linear Hz) that overlap by half, and column ``N+1``
is a high-pass residual.  The columns tile the spectrum as a tight frame, ``sum_k H[i, k]**2 == 1`` at every
bin ``i``, so filtering twice with the bank and summing all bands gives the signal back exactly.

Filtering is zero-phase and circular (multiplication of the rfft), as in McDermott & Simoncelli's toolbox.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
from torch import nn

from ddsp_textures.dsp.numerics import modulus

Scale = Literal["erb", "log", "linear"]


def erb_number(f: torch.Tensor | float) -> torch.Tensor:
    """ERB-number (Glasberg & Moore form used by McDermott) of frequency ``f`` in Hz.

    >>> round(float(erb_number(1000.0)), 3)
    15.572
    """
    f = torch.as_tensor(f, dtype=torch.float64)
    return 9.265 * torch.log1p(f / (24.7 * 9.265))


def erb_to_hz(e: torch.Tensor | float) -> torch.Tensor:
    """Inverse of :func:`erb_number`."""
    e = torch.as_tensor(e, dtype=torch.float64)
    return 24.7 * 9.265 * torch.expm1(e / 9.265)


def _check(length: int, fs: float, n_bands: int, low: float, high: float) -> None:
    if not isinstance(length, int) or length < 4:
        raise ValueError(f"filterbank length must be an integer >= 4, got {length!r}")
    if not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0):
        raise ValueError(f"fs (sample rate) must be a finite number > 0, got {fs!r}")
    if not isinstance(n_bands, int) or n_bands < 1:
        raise ValueError(f"number of bands must be a positive integer, got {n_bands!r}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"filter limits must be finite, got low={low}, high={high}")
    if not 0 <= low < high:
        raise ValueError(f"filter limits must satisfy 0 <= low < high, got low={low}, high={high}")
    if high > fs / 2:
        raise ValueError(f"high limit {high} Hz is above the Nyquist frequency {fs / 2} Hz")


def rfft_frequencies(length: int, fs: float) -> torch.Tensor:
    """Frequencies (Hz, float64) of the ``length//2 + 1`` rfft bins."""
    return torch.arange(length // 2 + 1, dtype=torch.float64) * fs / length


def band_cutoffs(n_bands: int, low: float, high: float, scale: Scale = "erb") -> torch.Tensor:
    """The ``N + 2`` cutoffs ``c_0 = low, ..., c_{N+1} = high``, equally spaced on the warped axis.

    Band ``k`` (1-based) spans ``(c_{k-1}, c_{k+1})`` and peaks at ``c_k``.

    >>> [round(float(c), 1) for c in band_cutoffs(16, 20, 22050)[:4]]
    [20.0, 95.3, 193.4, 321.2]
    """
    if scale == "erb":
        return erb_to_hz(torch.linspace(float(erb_number(low)), float(erb_number(high)), n_bands + 2,
                                        dtype=torch.float64))
    if scale == "log":
        if low <= 0:
            raise ValueError("a logarithmic bank needs low > 0")
        return torch.logspace(math.log10(low), math.log10(high), n_bands + 2, dtype=torch.float64)
    if scale == "linear":
        return torch.linspace(low, high, n_bands + 2, dtype=torch.float64)
    raise ValueError(f"unknown scale {scale!r}; use 'erb', 'log' or 'linear'")


def _warp(f: torch.Tensor, scale: Scale) -> torch.Tensor:
    if scale == "erb":
        return erb_number(f)
    if scale == "log":
        return torch.log10(torch.clamp(f, min=1e-12))
    return f


def filterbank_matrix(length: int, fs: float, n_bands: int, low: float, high: float,
                      scale: Scale = "erb") -> torch.Tensor:
    """Frequency responses ``H`` of shape ``(length//2 + 1, n_bands + 2)`` (float64).

    Built without loops over bands: every band is evaluated on every bin and masked to its support.
    ERB and linear banks use strict support inequalities, the log bank inclusive ones (as in the reference).

    Shape:
        returns ``(F, N + 2)`` with ``F = length // 2 + 1``.

    >>> H = filterbank_matrix(1024, 16000, 8, 50, 8000)
    >>> H.shape
    torch.Size([513, 10])
    >>> bool(torch.allclose((H ** 2).sum(1), torch.ones(513, dtype=torch.float64)))
    True
    """
    _check(length, fs, n_bands, low, high)
    f = rfft_frequencies(length, fs)                       # (F,)
    c = band_cutoffs(n_bands, low, high, scale)            # (N+2,)
    lo, centre, hi = c[:-2], c[1:-1], c[2:]                # (N,)
    fw, low_w, high_w = _warp(f, scale)[:, None], _warp(lo, scale), _warp(hi, scale)
    fcol = f[:, None]
    if scale == "log":
        inside = (fcol >= lo) & (fcol <= hi)
    else:
        inside = (fcol > lo) & (fcol < hi)
    phase = math.pi * (fw - (low_w + high_w) / 2) / (high_w - low_w)
    bands = torch.where(inside, torch.cos(phase), torch.zeros((), dtype=torch.float64))  # (F, N)
    H = torch.zeros(f.numel(), n_bands + 2, dtype=torch.float64)
    H[:, 1:-1] = bands
    if scale == "log":
        below, above = f <= centre[0], f >= centre[-1]
    else:
        below, above = f < centre[0], f > centre[-1]
    H[:, 0] = torch.where(below, torch.sqrt(torch.clamp(1 - bands[:, 0] ** 2, min=0)), 0.0)
    H[:, -1] = torch.where(above, torch.sqrt(torch.clamp(1 - bands[:, -1] ** 2, min=0)), 0.0)
    return H


def one_sided_weights(length: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Weights ``(1, 2, …, 2, 1)`` of the ``length // 2 + 1`` rfft bins (the last is 1 only for an even
    ``length``): the factor of each bin in the analytic signal and in Parseval's sum over a one-sided spectrum.

    >>> one_sided_weights(6).tolist(), one_sided_weights(5).tolist()
    ([1.0, 2.0, 2.0, 1.0], [1.0, 2.0, 2.0])
    """
    weights = torch.full((length // 2 + 1,), 2.0, dtype=dtype)
    weights[0] = 1.0
    if length % 2 == 0:
        weights[-1] = 1.0
    return weights


class FilterBank(nn.Module):
    """Zero-phase circular filterbank for signals of one fixed length.

    Args:
        length: signal length ``L`` the bank is designed for.
        fs: sample rate in Hz.
        n_bands: number ``N`` of band-pass filters (two residual bands are added).
        low, high: band limits in Hz (``0 <= low < high <= fs/2``).
        scale: ``"erb"`` (cochlear bank), ``"log"`` (modulation bank) or ``"linear"``.

    Shape:
        ``forward``: ``(..., L) -> (..., N, L)`` band-pass subbands (residuals dropped).
        ``all_bands``: ``(..., L) -> (..., N + 2, L)``.

    >>> bank = FilterBank(2048, 16000, 12, 20, 8000)
    >>> x = torch.randn(3, 2048)
    >>> bank(x).shape
    torch.Size([3, 12, 2048])
    >>> bool(torch.allclose(bank.reconstruct(bank.all_bands(x)), x, atol=1e-5))
    True
    """

    filters: torch.Tensor

    def __init__(self, length: int, fs: float, n_bands: int, low: float = 20.0,
                 high: float | None = None, scale: Scale = "erb") -> None:
        super().__init__()
        high = fs / 2 if high is None else high
        self.length, self.fs, self.n_bands = length, fs, n_bands
        self.low, self.high, self.scale = float(low), float(high), scale
        H = filterbank_matrix(length, fs, n_bands, low, high, scale)
        self.register_buffer("filters", H.T.contiguous(), persistent=False)  # (N+2, F), float64; cast per call
        # band-pass filters times the analytic-signal weights (1, 2, …, 2, 1): see envelopes()
        self.register_buffer("one_sided", (H.T[1:-1] * one_sided_weights(length, H.dtype)).contiguous(),
                             persistent=False)

    @property
    def cutoffs(self) -> torch.Tensor:
        """All ``N + 2`` cutoff frequencies in Hz."""
        return band_cutoffs(self.n_bands, self.low, self.high, self.scale)

    @property
    def centre_frequencies(self) -> torch.Tensor:
        """Centre frequencies ``c_1..c_N`` of the band-pass filters in Hz."""
        return self.cutoffs[1:-1]

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype not in (torch.float32, torch.float64, torch.complex64, torch.complex128):
            raise ValueError(f"x must be float32 or float64 (got {x.dtype}): convert it with x.float() — integer "
                             f"samples would truncate the filters, and CPU FFTs have no float16")
        if x.numel() == 0:
            raise ValueError(f"x is empty (shape {tuple(x.shape)})")
        if x.shape[-1] != self.length:
            raise ValueError(f"this filterbank was built for signals of {self.length} samples, "
                             f"got {x.shape[-1]}")

    def all_bands(self, x: torch.Tensor) -> torch.Tensor:
        """All ``N + 2`` subbands, residuals included."""
        self._check_input(x)
        spectrum = torch.fft.rfft(x, dim=-1)
        filters = self.filters.to(device=x.device, dtype=x.real.dtype if x.is_complex() else x.dtype)
        return torch.fft.irfft(spectrum.unsqueeze(-2) * filters, n=self.length, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.all_bands(x)[..., 1:-1, :]

    def envelopes(self, x: torch.Tensor, bands: torch.Tensor | None = None) -> torch.Tensor:
        """Hilbert envelopes of the band-pass subbands (only those that the boolean mask or indices ``bands``
        select, if given), ``|analytic signal|`` — equal to
        ``hilbert_envelope(self(x))`` with two FFT passes fewer: the analytic signal of a band is the inverse
        FFT of its *one-sided* spectrum (``2·H·X`` on positive frequencies, ``H·X`` at DC and Nyquist, 0 on
        negative ones), so the band never has to be formed in the time domain.

        Shape:
            ``(..., L) -> (..., N, L)`` (``N`` the selected bands).

        >>> from ddsp_textures.dsp.envelopes import hilbert_envelope
        >>> bank = FilterBank(1024, 16000, 6, 50, 8000)
        >>> x = torch.randn(2, 1024, dtype=torch.float64)
        >>> bool(torch.allclose(bank.envelopes(x), hilbert_envelope(bank(x))))
        True
        >>> bool(torch.equal(bank.envelopes(x, torch.tensor([1, 4])), bank.envelopes(x)[:, [1, 4]]))
        True
        """
        self._check_input(x)
        filters = self.one_sided if bands is None else self.one_sided[bands.to(self.one_sided.device)]
        filters = filters.to(device=x.device, dtype=x.dtype)
        spectrum = torch.fft.rfft(x, dim=-1).unsqueeze(-2) * filters
        return modulus(torch.fft.ifft(spectrum, n=self.length, dim=-1))

    def reconstruct(self, bands: torch.Tensor) -> torch.Tensor:
        """Filter each of the ``N + 2`` subbands once more and sum: exact inverse of :meth:`all_bands`."""
        if bands.shape[-2] != self.n_bands + 2:
            raise ValueError(f"expected {self.n_bands + 2} bands (residuals included), got {bands.shape[-2]}")
        spectrum = torch.fft.rfft(bands, dim=-1) * self.filters.to(bands.device, bands.dtype)
        return torch.fft.irfft(spectrum.sum(-2), n=self.length, dim=-1)


    def band_power(self, x: torch.Tensor) -> torch.Tensor:
        """Mean power of all ``N + 2`` subbands (residuals included), ``mean(all_bands(x)²)``, by Parseval on the
        one-sided spectrum — no subband is formed.

        Shape:
            ``(..., L) -> (..., N + 2)``.

        >>> bank = FilterBank(1024, 16000, 6, 50, 8000)
        >>> x = torch.randn(3, 1024, dtype=torch.float64)
        >>> bool(torch.allclose(bank.band_power(x), bank.all_bands(x).pow(2).mean(-1)))
        True
        """
        self._check_input(x)
        power = torch.fft.rfft(x, dim=-1).abs().pow(2)
        weights = one_sided_weights(self.length, power.dtype).to(x.device)
        filters = self.filters.to(x.device, power.dtype).pow(2)
        return (power * weights) @ filters.T / self.length**2

    def equalise(self, x: torch.Tensor, target_rms: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
        """Deprecated name of :meth:`set_band_rms`."""
        warnings.warn("FilterBank.equalise is deprecated: use FilterBank.set_band_rms", DeprecationWarning,
                      stacklevel=2)
        return self.set_band_rms(x, target_rms, eps)

    def set_band_rms(self, x: torch.Tensor, target_rms: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
        """Give every one of the ``N + 2`` subbands of ``x`` the RMS ``target_rms`` in one zero-phase filter,
        ``X·Σ_b g_b·H_b²`` with ``g_b = target_b / rms_b(x)`` (the squared responses sum to 1, so equal gains
        are a plain gain and the fine structure of ``x`` is kept).  Exact where neighbouring bands get the same
        gain; elsewhere the crossovers mix neighbouring gains: independent random gains within ±3 dB per band
        land within 1.4 dB, within ±6 dB within 4.4 dB.  On hybrid-model frames (chapter *P-VAE synth*) the
        band error is 0.2–0.6 dB median, 1.1–3.9 dB at the 95th percentile.  A Gauss–Newton solve for exact
        band RMS was measured too and not kept: frame TexStat 0.2–3 % worse on all five benchmark textures,
        and the long-term spectrum of the rainforest recording 14.5 dB off instead of 6.2.

        Shape:
            ``x (..., L)``, ``target_rms (..., N + 2)`` → ``(..., L)``.

        >>> bank = FilterBank(1024, 16000, 6, 50, 8000)
        >>> x = torch.randn(2, 1024, dtype=torch.float64)
        >>> y = bank.set_band_rms(x, torch.full((2, 8), 0.5, dtype=torch.float64))
        >>> bool(torch.allclose(bank.band_power(y).sqrt(), torch.tensor(0.5, dtype=torch.float64), rtol=0.2))
        True
        """
        if target_rms.shape[-1] != self.n_bands + 2:
            raise ValueError(f"expected target RMS of {self.n_bands + 2} bands (residuals included), "
                             f"got {target_rms.shape[-1]}")
        return self.apply_band_gains(x, target_rms / (self.band_power(x).sqrt() + eps))

    def apply_band_gains(self, x: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        """Amplitude gains ``(..., N + 2)`` on the bands of ``x`` in one zero-phase filter ``X·Σ_b g_b·H_b²``
        (unit gains leave ``x`` as it is: the squared responses sum to 1).

        Shape:
            ``x (..., L)``, ``gains (..., N + 2)`` → ``(..., L)``.
        """
        self._check_input(x)
        weight = gains.to(x.dtype) @ self.filters.to(x.device, x.dtype).pow(2)
        return torch.fft.irfft(torch.fft.rfft(x, dim=-1) * weight, n=self.length, dim=-1)


def erb_bank(length: int, fs: float, n_bands: int, low: float = 20.0, high: float | None = None) -> FilterBank:
    """Cochlear (ERB) bank, the analysis bank of the synth, the features and the loss."""
    return FilterBank(length, fs, n_bands, low, high, "erb")


def modulation_bank(length: int, fs: float, n_bands: int, low: float = 10.0,
                    high: float | None = None) -> FilterBank:
    """Logarithmic modulation bank for envelopes sampled at ``fs`` (default limits as the reference:
    10 Hz to ``fs/4``)."""
    return FilterBank(length, fs, n_bands, low, fs / 4 if high is None else high, "log")
