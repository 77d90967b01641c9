"""Log-mel spectrogram and its Fréchet distance: a measure of texture similarity outside TexStat (book chapter:
*DDSP training*, section *Generating new texture*).

TexStat compares frames by the auditory statistics it was trained to match, so it cannot be the only judge of a
model trained on it.  The log-mel Fréchet distance fits a Gaussian to the columns of each signal's log-mel
spectrogram (64 Slaney mel bands, Hann STFT of 2048 samples, hop 512 — librosa's defaults) and measures the
distance between the two Gaussians, as FAD does with learned embeddings.  It sees the spectrum's mean, how
loud moments are distributed (a crackle is a column far above the median) and how bands co-vary, with no notion
of where in time anything happens.  Each signal is scaled to unit RMS first, so only its shape counts.
"""

from __future__ import annotations

import numpy as np
import torch

from ddsp_textures.metrics.distances import frechet_distance

N_MELS, N_FFT, HOP = 64, 2048, 512
FLOOR_DB = -60.0     # log-mel floor of mel_frechet_distance, for signals at unit RMS (white noise: ≈ +18 dB)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear to 1 kHz, logarithmic above.

    >>> round(float(hz_to_mel(1000.0)), 9), round(float(hz_to_mel(6400.0)), 9)
    (15.0, 42.0)
    """
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    linear = f / f_sp
    log = min_log_hz / f_sp + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log, linear)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(fs: float, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = 0.0,
                fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters with Slaney area normalisation (each filter's weights times its width in Hz / 2
    sum to one): ``(n_mels, n_fft // 2 + 1)``.

    >>> w = mel_filters(22050, 1024, 40)
    >>> w.shape, bool((w >= 0).all())
    ((40, 513), True)
    """
    fmax = fs / 2 if fmax is None else fmax
    freqs = np.arange(n_fft // 2 + 1) * fs / n_fft
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower = (freqs[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    upper = (edges[2:, None] - freqs[None, :]) / np.diff(edges)[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def log_mel_spectrogram(x: np.ndarray | torch.Tensor, fs: float, n_mels: int = N_MELS, n_fft: int = N_FFT,
                        hop: int = HOP, floor_db: float = -100.0) -> np.ndarray:
    """Log-mel power spectrogram in dB, ``(n_mels, frames)``: a Hann STFT of ``n_fft`` samples every ``hop``
    (frames centred, zero-padded at the ends, as librosa's ``center=True``), mel filters
    (:func:`mel_filters`), ``10·log10(max(power, 10^(floor_db/10)))``.

    Shape:
        ``(n,) -> (n_mels, 1 + n // hop)``.
    """
    y = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(-1)
    if y.numel() < 2 or not torch.isfinite(y).all():
        raise ValueError("log_mel_spectrogram needs a finite signal of at least 2 samples")
    spec = torch.stft(y, n_fft, hop, window=torch.hann_window(n_fft, periodic=True, dtype=torch.float64),
                      center=True, pad_mode="constant", return_complex=True)
    power = spec.abs().pow(2).numpy()
    mel = mel_filters(fs, n_fft, n_mels) @ power
    return 10.0 * np.log10(np.maximum(mel, 10.0 ** (floor_db / 10)))


def unit_rms(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """``x`` scaled to RMS 1 (float64; a silent signal stays silent)."""
    y = np.asarray(x, dtype=np.float64).reshape(-1)
    level = np.sqrt(np.mean(y**2))
    return y / level if level > 0 else y


def mel_frechet_distance(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, fs: float,
                         n_mels: int = N_MELS) -> float:
    """Fréchet distance between Gaussians fitted to the log-mel columns (dB) of two signals, each scaled to unit
    RMS first (:func:`log_mel_spectrogram`, :func:`~ddsp_textures.metrics.frechet_distance`).  In dB²; 0 for the
    same distribution, level-free.  Mel powers are floored at :data:`FLOOR_DB` (about 80 dB below white noise of
    the same RMS), so that bands a lossy codec left digitally silent (−100 dB in an OGG recording above 16 kHz,
    −75 dB in its resynthesis) do not dominate the distance with a difference nobody hears.

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.standard_normal(10 * 44100), rng.standard_normal(10 * 44100)
    >>> same, tilted = mel_frechet_distance(a, b, 44100), mel_frechet_distance(a, np.diff(b), 44100)
    >>> same < 20 < 10_000 < tilted      # white noise vs white noise; vs noise tilted by +6 dB/octave
    True

    Estimating 64×64 covariances from few columns adds a positive bias (two 10-s stretches of one white noise:
    ≈ 10 dB²; 30 s: ≈ 3.4): compare candidates of equal length, against a floor of that length.
    """
    a = log_mel_spectrogram(unit_rms(x), fs, n_mels, floor_db=FLOOR_DB).T
    b = log_mel_spectrogram(unit_rms(y), fs, n_mels, floor_db=FLOOR_DB).T
    return frechet_distance(a, b)
