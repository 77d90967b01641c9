"""Spectra: the multi-scale spectral (MSS) loss, the usual DDSP reconstruction loss (book chapter: *TexStat*), and
the long-term spectrum that shapes TexEnv carriers (book chapter: *TexEnv synth*)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ddsp_textures._deprecated import renamed
from ddsp_textures.dsp.numerics import safe_log

DEFAULT_SCALES = (4096, 2048, 1024, 512, 256, 128)


def multiscale_spectrograms(x: torch.Tensor, scales: Sequence[int] = DEFAULT_SCALES,
                            overlap: float = 0.75) -> list[torch.Tensor]:
    """Magnitude STFTs (Hann window, normalised) at several FFT sizes.

    Shape:
        ``(B, L) -> [(B, n_fft//2 + 1, frames)]`` one tensor per scale.
    """
    if x.dim() == 1:
        x = x.unsqueeze(0)
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    out = []
    for n_fft in scales:
        hop = max(1, int(n_fft * (1 - overlap)))
        window = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
        spec = torch.stft(x, n_fft=n_fft, hop_length=hop, win_length=n_fft, window=window, center=True,
                          normalized=True, return_complex=True)
        out.append(spec.abs())
    return out


def multiscale_spectral_loss(x: torch.Tensor, y: torch.Tensor, scales: Sequence[int] = DEFAULT_SCALES,
                             overlap: float = 0.75, log_weight: float = 1.0) -> torch.Tensor:
    """``Σ_s mean|S_x − S_y| + log_weight · mean|log S_x − log S_y|`` (Engel et al. 2020's
    multi-scale spectral loss, eps 1e-7).

    >>> x = torch.randn(2, 8192)
    >>> float(multiscale_spectral_loss(x, x))
    0.0
    """
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    loss = x.new_zeros(())
    for sx, sy in zip(multiscale_spectrograms(x, scales, overlap), multiscale_spectrograms(y, scales, overlap),
                      strict=True):
        loss = loss + (sx - sy).abs().mean() + log_weight * (safe_log(sx) - safe_log(sy)).abs().mean()
    return loss


class MultiScaleSpectralLoss(nn.Module):
    """Module form of :func:`multiscale_spectral_loss`.

    Shape:
        ``(B, L), (B, L) -> ()``.
    """

    def __init__(self, scales: Sequence[int] = DEFAULT_SCALES, overlap: float = 0.75,
                 log_weight: float = 1.0) -> None:
        super().__init__()
        self.scales, self.overlap, self.log_weight = tuple(scales), overlap, log_weight

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return multiscale_spectral_loss(x, y, self.scales, self.overlap, self.log_weight)


SEGMENTS_PER_BLOCK = 256     # Welch segments transformed together by long_term_spectrum


def long_term_spectrum(signals: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray], length: int,
                       segment: int = 4096) -> torch.Tensor:
    """Long-term average power spectrum of one signal or a corpus, on the rfft grid of ``length`` samples.

    Welch's method: Hann-windowed segments of ``segment`` samples at 50 % overlap, mean squared magnitude,
    pooled over every segment of every signal (≈ 11 Hz resolution at 44.1 kHz), then linearly interpolated onto
    the ``length // 2 + 1`` bins of a frame.  The scale is arbitrary (only shapes are used).

    Shape:
        ``(n,)`` or a list of ``(n_i,)`` → ``(length // 2 + 1,)`` float64.

    >>> t = torch.arange(44100) / 44100
    >>> S = long_term_spectrum(torch.sin(2 * torch.pi * 1000 * t), 8192)
    >>> round(int(S.argmax()) * 44100 / 8192)          # the bin of 1 kHz
    1001
    """
    if isinstance(signals, (torch.Tensor, np.ndarray)) and np.ndim(signals) == 1:
        signals = [signals]
    if length < 2 or segment < 2:
        raise ValueError(f"length and segment must be at least 2, got {length} and {segment}")
    total, count = None, 0
    for x in signals:
        length_x = int(np.shape(x)[-1]) if np.ndim(x) else 0
        n = min(segment, length_x - length_x % 2)
        if n < 2:
            continue
        hop = max(1, n // 2)
        window = torch.hann_window(n, periodic=False, dtype=torch.float64)
        n_segments = (length_x - n) // hop + 1
        for first in range(0, n_segments, SEGMENTS_PER_BLOCK):   # blocks: memory does not grow with the signal
            last = min(n_segments, first + SEGMENTS_PER_BLOCK)
            part = x[first * hop:(last - 1) * hop + n]
            part = torch.as_tensor(np.asarray(part, dtype=np.float64) if not torch.is_tensor(part) else part)
            frames = part.double().reshape(-1).cpu().unfold(0, n, hop) * window
            spectrum = torch.fft.rfft(frames, dim=-1)
            power = torch.addcmul(spectrum.real.square(), spectrum.imag, spectrum.imag)     # |z|², no root
            if n != segment:                                   # a short signal: bring it onto the common grid
                power = torch.tensor(np.stack([np.interp(np.arange(segment // 2 + 1) * n / segment,
                                                         np.arange(n // 2 + 1), p) for p in power.numpy()]))
            total = power.sum(0) if total is None else total + power.sum(0)
            count += power.shape[0]
    if total is None:
        raise ValueError("no signal long enough for a spectrum")
    return _onto_frame_grid((total / count).numpy(), segment, length)


def _onto_frame_grid(coarse: np.ndarray, segment: int, length: int) -> torch.Tensor:
    """A spectrum on the rfft grid of ``segment`` samples, linearly interpolated onto that of ``length``."""
    return torch.tensor(np.interp(np.arange(length // 2 + 1) * segment / length, np.arange(segment // 2 + 1), coarse))


def background_spectrum(signals: torch.Tensor | np.ndarray | Sequence[torch.Tensor | np.ndarray], length: int,
                        segment: int = 256, max_segments: int = 16384) -> tuple[torch.Tensor, float]:
    """The power spectrum of what sounds *between* a texture's events, on the rfft grid of ``length`` samples,
    and its share of the long-term power (book chapter: *P-VAE synth*).

    Each frame of ``length`` samples is scaled to unit RMS (a slow swell is the frame level's business, not an
    event).  Per bin: the median power of its Hann-windowed segments (``segment`` samples, hop ``segment/2``,
    short enough that most fall between events; at most ``max_segments`` in all, evenly spread) divided by
    ``ln 2`` (the power of one bin of Gaussian noise is exponential, whose median is ``ln 2`` times its mean),
    capped at the bin's mean power.  A stationary noise keeps its whole spectrum (share ≈ 1); sparse clicks on
    a quiet bed leave the bed (share ≈ the bed's part of the energy): events in fewer than half of the
    segments do not move a median.

    Shape:
        ``(n,)`` or a list of ``(n_i,)`` → ``((length // 2 + 1,) float64, share in [0, 1])``.

    >>> g = torch.Generator().manual_seed(0)
    >>> noise = torch.randn(10 * 16000, generator=g, dtype=torch.float64)
    >>> round(background_spectrum(noise, 4096)[1], 1)
    1.0
    """
    if isinstance(signals, (torch.Tensor, np.ndarray)) and np.ndim(signals) == 1:
        signals = [signals]
    if segment < 2 or segment % 2 or segment > length:
        raise ValueError(f"segment must be even and in [2, length], got {segment} for length {length}")
    hop, window, powers = segment // 2, torch.hann_window(segment, periodic=False, dtype=torch.float64), []
    max_frames = max(1, max_segments // max(1, (length - segment) // hop + 1))     # per signal: bounded memory
    for x in signals:
        count = int(np.shape(x)[-1]) // length if np.ndim(x) else 0
        if count == 0:
            continue
        picked = np.unique(np.linspace(0, count - 1, min(count, max_frames)).round().astype(int))
        blocks = torch.stack([torch.as_tensor(np.asarray(x[i * length:(i + 1) * length], dtype=np.float64))
                              for i in picked])                    # each frame at unit RMS: a slow swell
        blocks = blocks / blocks.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-12)   # is not an event
        powers.append(blocks.unfold(-1, segment, hop).reshape(-1, segment))
    if not powers:
        raise ValueError(f"no signal of at least one frame ({length} samples) for a background spectrum")
    frames = torch.cat(powers)
    if frames.shape[0] > max_segments:
        frames = frames[torch.linspace(0, frames.shape[0] - 1, max_segments).round().long()]
    power = torch.fft.rfft(frames * window, dim=-1).abs().pow(2)
    mean = power.mean(0)
    background = torch.minimum(power.median(0).values / math.log(2.0), mean)
    share = float(background.sum() / mean.sum().clamp_min(1e-300))
    return _onto_frame_grid(background.numpy(), segment, length), share


def smoothed_power(power: torch.Tensor, fs: float, octaves: float = 1 / 3, min_bins: int = 2) -> torch.Tensor:
    """A power spectrum on an rfft grid averaged over ``±octaves/2`` around each bin (at least ``±min_bins``
    bins): fractional-octave smoothing, by cumulative sums.

    Shape:
        ``(F,) -> (F,)``.
    """
    n_bins = power.shape[-1]
    step = fs / (2 * (n_bins - 1))
    freqs = torch.arange(n_bins, dtype=torch.float64) * step
    half = torch.maximum(freqs * (2 ** (octaves / 2) - 1) / step, torch.tensor(float(min_bins)))
    lo = (torch.arange(n_bins) - half).floor().clamp(0, n_bins - 1).long()
    hi = (torch.arange(n_bins) + half).ceil().clamp(0, n_bins - 1).long()
    cumulative = torch.cat([power.new_zeros(1), power.double().cumsum(-1)])
    return (cumulative[hi + 1] - cumulative[lo]) / (hi - lo + 1)


def equalize_to(y: torch.Tensor, x: torch.Tensor, fs: float, max_db: float = 6.0, octaves: float = 1 / 6,
                segment: int = 16384) -> torch.Tensor:
    """``y`` filtered (zero phase) so that its long-term spectrum follows ``x``'s, smoothed over ``octaves``
    and within ``±max_db`` (book chapter: *TexEnv synth*).

    A resynthesis can tilt the long-term spectrum where its model cannot follow the signal: the lowest band's
    envelope modulation spreads energy down a steep low end (+3 dB at 100 Hz on a water recording).  The gain
    ``sqrt(S̃_x / S̃_y)`` of the fractionally smoothed Welch spectra (:func:`long_term_spectrum`, segments of
    ``segment`` samples: 2.7 Hz at 44.1 kHz, fine enough for a steep low end) is applied to the whole of ``y``
    in one FFT; smoothing over a sixth of an octave keeps the filter short, and the bound keeps it from
    inventing energy ``y`` does not have.  Silent ``x`` or ``y``, or signals shorter than 16 samples: ``y``
    unchanged.

    Shape:
        ``(n,), (m,) -> (n,)``.

    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(44100, generator=g)
    >>> tilted = torch.fft.irfft(torch.fft.rfft(x) * torch.linspace(0.5, 1.0, 22051), n=44100)
    >>> from ddsp_textures.metrics import third_octave_deviation_db
    >>> float(abs(third_octave_deviation_db(x, tilted, 44100)).max()) > 2
    True
    >>> float(abs(third_octave_deviation_db(x, equalize_to(tilted, x, 44100), 44100)).max()) < 0.3
    True
    """
    if y.dim() != 1 or x.dim() != 1:
        raise ValueError(f"expected two mono signals, got shapes {tuple(y.shape)} and {tuple(x.shape)}")
    if max_db <= 0 or octaves <= 0:
        raise ValueError(f"max_db and octaves must be positive, got {max_db} and {octaves}")
    n = y.shape[-1]
    segment = min(segment, n - n % 2, x.shape[-1] - x.shape[-1] % 2)
    if segment < 16 or float(x.abs().max()) == 0 or float(y.abs().max()) == 0:
        return y
    target = smoothed_power(long_term_spectrum(x.detach().cpu(), segment, segment), fs, octaves)
    actual = smoothed_power(long_term_spectrum(y.detach().cpu(), segment, segment), fs, octaves)
    floor = 1e-12 * float(actual.max())
    gain_db = (10 * torch.log10(target.clamp_min(floor) / actual.clamp_min(floor))).clamp(-max_db, max_db)
    fine = np.interp(np.arange(n // 2 + 1) * segment / n, np.arange(segment // 2 + 1), gain_db.numpy())
    gain = torch.tensor(10 ** (fine / 20), dtype=y.dtype, device=y.device)
    return torch.fft.irfft(torch.fft.rfft(y) * gain, n=n)


equalise_to = renamed("equalise_to", equalize_to)
