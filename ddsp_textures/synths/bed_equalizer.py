"""A bed's spectrum, equalised in the log domain (book chapter: *DDSP training*, section *Generating new texture*).

A TexEnv bed sets each band's power, but its envelope modulation spreads that power across the band, and a bed
trained on a whole recording puts its events' power into puffs: a fire's 400–1000 Hz valley and the empty octave
above applause's 8-kHz edge fill with noise.  Matching the long-term *power* spectrum does not help, as the puffs
carry the power (``benchmarks/README.md``, *Measured, not adopted: an equaliser on the generated bed*).  What the
ear (and the log-mel distance) hears is the typical level: the mean over time of the log power.
:func:`log_spectrum_gains` gives the zero-phase gains that move a bed's mean log spectrum onto a target's
(smoothed over a third of an octave, within ``±max_db``, with the bed's power kept), and
:func:`equalize_frames` applies them to whole L-periodic frames, exactly, as one circular filter.

Where the audio's level *swings* — a band near-silent in most frames and loud in the rest, as above applause's
8-kHz edge between claps — its log power spreads far more than steady noise's (:func:`log_spectrum_spread`;
:data:`STEADY_SPREAD_DB` for noise), and a steady bed there is heard as a hiss the recording lacks; ``swing_db``
moves those bins all the way.
"""

from __future__ import annotations

import numpy as np
import torch

N_FFT = 2048            # the analysis of the mean log spectrum: 21.5 Hz bins at 44.1 kHz
FLOOR = 1e-8            # of the signal's mean power (−80 dB), as the log-mel distance floors its bands
STEADY_SPREAD_DB = 10 / np.log(10) * np.pi / np.sqrt(6)   # 5.57 dB: log power of an exponential (noise) bin
SWING_DB = 10.0         # a bin whose log power spreads more than this swings between near-silence and events


def _log_power(x: np.ndarray | torch.Tensor, n_fft: int) -> torch.Tensor:
    """Log power (dB) of half-overlapping Hann frames of ``x`` at unit RMS, floored at :data:`FLOOR`:
    ``(n,) -> (n_fft // 2 + 1, frames)``."""
    y = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(-1)
    if y.shape[0] < n_fft or not torch.isfinite(y).all():
        raise ValueError(f"a log spectrum needs at least {n_fft} finite samples, got {y.shape[0]}")
    y = y / y.pow(2).mean().sqrt().clamp_min(1e-30)
    spec = torch.stft(y, n_fft, n_fft // 2, window=torch.hann_window(n_fft, dtype=torch.float64), center=False,
                      return_complex=True)
    power = spec.real.square() + spec.imag.square()
    return 10 * torch.log10(power.clamp_min(FLOOR * float(power.mean())))


def mean_log_spectrum(x: np.ndarray | torch.Tensor, n_fft: int = N_FFT) -> np.ndarray:
    """Mean over half-overlapping Hann frames of the log power (dB) of ``x`` scaled to unit RMS, per rfft bin of
    ``n_fft``; powers floored at :data:`FLOOR`.

    Shape:
        ``(n,) -> (n_fft // 2 + 1,)``, ``n ≥ n_fft``.

    >>> tone = np.sin(2 * np.pi * 64 * np.arange(8192) / 2048)      # bin 64 of 2048
    >>> int(np.argmax(mean_log_spectrum(tone)))
    64
    """
    return _log_power(x, n_fft).mean(-1).numpy()


def log_spectrum_spread(x: np.ndarray | torch.Tensor, n_fft: int = N_FFT) -> np.ndarray:
    """Standard deviation over the same frames of the log power (dB), per rfft bin: about
    :data:`STEADY_SPREAD_DB` for steady noise, more where a band alternates between near-silence and events.

    Shape:
        ``(n,) -> (n_fft // 2 + 1,)``, ``n ≥ n_fft``.
    """
    return _log_power(x, n_fft).std(-1).numpy()


def _smooth_octaves(freqs: np.ndarray, values: np.ndarray, octaves: float) -> np.ndarray:
    """Mean of ``values`` over the bins within ``±octaves / 2`` of each bin (bins below 1 Hz count as 1 Hz)."""
    log_f = np.log2(np.maximum(freqs, 1.0))
    sums = np.concatenate([[0.0], np.cumsum(values)])
    low = np.searchsorted(log_f, log_f - octaves / 2)
    high = np.searchsorted(log_f, log_f + octaves / 2, side="right")
    return (sums[high] - sums[low]) / np.maximum(high - low, 1)


def log_spectrum_gains(target: np.ndarray | torch.Tensor, bed: np.ndarray | torch.Tensor, fs: float,
                       frame_size: int, max_db: float = 12.0, octaves: float = 1 / 3, strength: float = 1.0,
                       swing_db: float | None = None) -> torch.Tensor:
    """Zero-phase gains, per rfft bin of ``frame_size``, that move ``bed``'s mean log spectrum
    (:func:`mean_log_spectrum`) onto ``target``'s: their difference smoothed over ``octaves``, times
    ``strength`` (1: all the way; 0.5: half way in dB) — all the way where ``swing_db`` is given and the
    target's :func:`log_spectrum_spread` (smoothed the same way) is above it —, bounded to ``±max_db``, then
    scaled so that the bed keeps its power.

    Shape:
        ``(n,), (m,) -> (frame_size // 2 + 1,)`` float32, positive.

    >>> rng = np.random.default_rng(0)
    >>> white = rng.standard_normal(4 * 44100)
    >>> dark = np.convolve(white, np.ones(4) / 4, mode="same")            # a low-pass: darker than white
    >>> g = log_spectrum_gains(white, dark, 44100, 4096)
    >>> bool(g[2000] > 3 * g[100])      # 21.5 kHz is lifted against 1 kHz
    True
    """
    if not max_db > 0 or not octaves > 0 or not 0 < strength <= 1:
        raise ValueError(f"max_db and octaves must be > 0 and strength in (0, 1], got {max_db}, {octaves}, {strength}")
    freqs = np.fft.rfftfreq(N_FFT, 1 / fs)
    bed_db = mean_log_spectrum(bed)
    difference = _smooth_octaves(freqs, mean_log_spectrum(target) - bed_db, octaves)
    weight = np.full_like(difference, strength)
    if swing_db is not None:
        weight[_smooth_octaves(freqs, log_spectrum_spread(target), octaves) > swing_db] = 1.0
    gain_db = np.clip(weight * difference, -max_db, max_db)
    power = 10 ** (bed_db / 10)
    gain_db -= 10 * np.log10(np.sum(power * 10 ** (gain_db / 10)) / np.sum(power))     # the bed's power kept
    bins = np.fft.rfftfreq(frame_size, 1 / fs)
    return torch.from_numpy(10 ** (np.interp(bins, freqs, gain_db) / 20)).float()


def equalize_frames(frames: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """Whole L-periodic frames filtered by zero-phase ``gains`` (one circular filter: exact for a frame that
    repeats every L samples, as a TexEnv frame does).

    Shape:
        ``(..., L), (L // 2 + 1,) -> (..., L)``.

    >>> frame = torch.cos(2 * torch.pi * 3 * torch.arange(16) / 16)
    >>> gains = torch.ones(9); gains[3] = 0.5
    >>> torch.allclose(equalize_frames(frame, gains), 0.5 * frame, atol=1e-6)
    True
    """
    length = frames.shape[-1]
    return torch.fft.irfft(torch.fft.rfft(frames) * gains.to(frames.dtype), n=length)
