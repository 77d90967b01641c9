"""Independent NumPy/SciPy re-implementations used as test oracles (loops, no shared code)."""

from __future__ import annotations

import math

import numpy as np
import scipy.signal


def erb(f):
    return 9.265 * np.log(1 + np.asarray(f, dtype=np.float64) / (24.7 * 9.265))


def erb_inv(e):
    return 24.7 * 9.265 * (np.exp(np.asarray(e, dtype=np.float64) / 9.265) - 1)


def bank_matrix(length, fs, n, low, high, scale="erb"):
    """Loop-per-band construction following the spec text literally."""
    nfreqs = length // 2
    max_freq = fs / 2 if length % 2 == 0 else fs * (length - 1) / (2 * length)
    freqs = np.linspace(0, max_freq, nfreqs + 1)
    if scale == "erb":
        cut = erb_inv(np.linspace(erb(low), erb(high), n + 2))
        warp = erb
    else:
        cut = np.logspace(np.log10(low), np.log10(high), n + 2)
        warp = np.log10
    H = np.zeros((nfreqs + 1, n + 2))
    for k in range(1, n + 1):
        lo, hi = cut[k - 1], cut[k + 1]
        for i, f in enumerate(freqs):
            inside = (lo < f < hi) if scale == "erb" else (lo <= f <= hi)
            if inside:
                H[i, k] = math.cos(math.pi * (warp(f) - (warp(lo) + warp(hi)) / 2) / (warp(hi) - warp(lo)))
    for i, f in enumerate(freqs):
        if (f < cut[1]) if scale == "erb" else (f <= cut[1]):
            H[i, 0] = math.sqrt(max(0.0, 1 - H[i, 1] ** 2))
        if (f > cut[n]) if scale == "erb" else (f >= cut[n]):
            H[i, n + 1] = math.sqrt(max(0.0, 1 - H[i, n] ** 2))
    return H


def subbands(x, H):
    """Full-FFT filtering with the mirrored two-sided response (as the reference does)."""
    length = x.shape[-1]
    if length % 2 == 0:
        full = np.concatenate([H, H[1:-1][::-1]], axis=0)
    else:
        full = np.concatenate([H, H[1:][::-1]], axis=0)
    X = np.fft.fft(x)
    return np.real(np.fft.ifft(X[:, None] * full, axis=0)).T  # (N+2, L)


def pearson(a, b):
    return np.corrcoef(a, b)[0, 1]


def texstat_numpy(x, fs, n, m, alpha, low=20.0, high=None, factor=4):
    """All five statistics of one frame with explicit loops over bands and pairs."""
    high = fs / 2 if high is None else high
    length = len(x)
    Hc = bank_matrix(length, fs, n, low, high, "erb")
    env = np.abs(scipy.signal.hilbert(subbands(x, Hc)[1:-1], axis=-1))       # (N, L)
    dec = scipy.signal.resample(env, length // factor, axis=-1)              # (N, T)
    Hm = bank_matrix(length // factor, fs / factor, m, 10.0, fs / factor / 4, "log")
    mod = np.stack([subbands(d, Hm)[1:-1] for d in dec])                    # (N, M, T)
    s1 = []
    for e in env:
        mu, sd = e.mean(), e.std(ddof=1)
        s1.append([alpha[0] * mu, alpha[1] * sd**2 / mu**2, alpha[2] * np.mean((e - mu) ** 3) / sd**3,
                   alpha[3] * np.mean((e - mu) ** 4) / sd**4])
    s2 = [pearson(env[i], env[j]) for i in range(n) for j in range(i + 1, n)]
    s3 = [mod[i, k].std(ddof=1) / dec[i].std(ddof=1) for i in range(n) for k in range(m)]
    s4 = [pearson(mod[i, k], mod[j, k]) for i in range(n) for j in range(i + 1, n) for k in range(m)]
    s5 = [pearson(mod[i, k1], mod[i, k2]) for k1 in range(m) for k2 in range(k1 + 1, m) for i in range(n)]
    return [np.array(s1), np.array(s2), np.array(s3), np.array(s4), np.array(s5)]
