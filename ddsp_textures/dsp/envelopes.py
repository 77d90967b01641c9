"""Hilbert envelopes and exact FFT-domain decimation (book chapter: *Filterbanks and envelopes*)."""

from __future__ import annotations

import torch


def analytic_signal(x: torch.Tensor) -> torch.Tensor:
    """Analytic signal ``x + j·Hilbert(x)`` along the last axis (SciPy's algorithm, batched).

    Shape:
        ``(..., L) -> (..., L)`` complex.

    >>> x = torch.cos(2 * torch.pi * 4 * torch.arange(64) / 64)
    >>> bool(torch.allclose(analytic_signal(x).abs(), torch.ones(64), atol=1e-5))
    True
    """
    n = x.shape[-1]
    spectrum = torch.fft.fft(x, dim=-1)
    h = torch.zeros(n, dtype=x.dtype, device=x.device)
    h[0] = 1
    if n % 2 == 0:
        h[n // 2] = 1
        h[1 : n // 2] = 2
    else:
        h[1 : (n + 1) // 2] = 2
    return torch.fft.ifft(spectrum * h, dim=-1)


def hilbert_envelope(x: torch.Tensor) -> torch.Tensor:
    """Amplitude envelope ``|analytic_signal(x)|``; its gradient is finite (0) where the signal is 0.

    Shape:
        ``(..., L) -> (..., L)``.
    """
    return analytic_signal(x).abs()


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Decimate by an integer ``factor`` with an ideal (brick-wall) low-pass in the FFT domain.

    The output has ``L // factor`` samples and equals ``scipy.signal.resample(x, L // factor)``; for a
    signal band-limited below the new Nyquist frequency it equals ``x[..., ::factor]`` exactly.
    Replaces the reference's torchaudio resampler (no torchaudio dependency).

    Shape:
        ``(..., L) -> (..., L // factor)``.

    >>> t = torch.arange(64, dtype=torch.float64)
    >>> x = torch.sin(2 * torch.pi * 3 * t / 64)
    >>> bool(torch.allclose(downsample(x, 4), x[::4]))
    True
    """
    if not isinstance(factor, int) or factor < 1:
        raise ValueError(f"downsampling factor must be a positive integer, got {factor!r}")
    if factor == 1:
        return x
    n = x.shape[-1]
    m = n // factor
    if m < 2:
        raise ValueError(f"cannot downsample {n} samples by {factor}")
    spectrum = torch.fft.rfft(x, dim=-1)[..., : m // 2 + 1]
    if m % 2 == 0:
        # fold the negative-frequency Nyquist bin onto the positive one (as scipy.signal.resample does)
        scale = torch.ones(m // 2 + 1, dtype=x.dtype, device=x.device)
        scale[-1] = 2
        spectrum = spectrum * scale
    return torch.fft.irfft(spectrum, n=m, dim=-1) * (m / n)
