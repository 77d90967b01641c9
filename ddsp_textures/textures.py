"""Seeded procedural sound textures: the demo and test data of the project (book chapter: *Sound textures*).

Each generator returns a mono float32 NumPy array peak-normalised to 0.9 and is fully determined by its
arguments (``seed`` included).  Controls have physical meaning:

* ``rate`` — events per second (drops, crackles, bubbles, claps; gusts per second for wind);
* ``intensity`` — level of the events relative to the background bed (0 = bed only);
* ``brightness`` — multiplies every characteristic frequency (1 = natural, 2 = one octave up).

Events follow a homogeneous Poisson process; grains are built as a matrix ``(events, grain_len)`` and added
in one vectorised scatter — no Python loop over events.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ddsp_textures._deprecated import renamed

Generator = Callable[..., np.ndarray]


def check_arguments(seconds: float, fs: int, rate: float, intensity: float, brightness: float) -> int:
    """Validate a generator's arguments; returns the number of samples."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if fs < 8000:
        raise ValueError(f"sample rate must be at least 8000 Hz, got {fs}")
    if rate < 0 or intensity < 0 or brightness <= 0:
        raise ValueError("rate and intensity must be >= 0 and brightness > 0")
    return int(round(seconds * fs))


def poisson_events(n_samples: int, rate: float, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted sample positions of a Poisson process with ``rate`` events per second."""
    count = rng.poisson(rate * n_samples / fs)
    return np.sort(rng.integers(0, n_samples, size=count))


def add_tapered_grains(n_samples: int, positions: np.ndarray, grains: np.ndarray) -> np.ndarray:
    """Add ``grains (E, K)`` starting at ``positions (E,)``; tails wrap around (the texture is periodic).

    The last 20 % of every grain is faded out (half cosine) so that truncated tails make no click.  (The
    procedural textures' grains; a P-VAE's grains are placed by
    :func:`~ddsp_textures.synths.events.place_grains`.)"""
    out = np.zeros(n_samples, dtype=np.float64)
    if len(positions):
        k = grains.shape[1]
        fade = max(1, k // 5)
        taper = np.ones(k)
        taper[k - fade:] = 0.5 * (1 + np.cos(np.pi * np.arange(1, fade + 1) / fade))
        grains = grains * taper
        idx = (positions[:, None] + np.arange(grains.shape[1])[None, :]) % n_samples
        np.add.at(out, idx.ravel(), grains.ravel())
    return out


def filtered_noise_bursts(n: int, length: int, fs: int, centre: np.ndarray, bandwidth: np.ndarray,
                          decay_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n`` noise bursts with Gaussian spectral shape (centre/bandwidth in Hz) and exponential decay, each
    normalised to unit peak."""
    t = np.arange(length) / fs
    noise = rng.standard_normal((n, length)) * np.exp(-t[None, :] / decay_s[:, None])
    freqs = np.fft.rfftfreq(length, 1 / fs)
    shape = np.exp(-0.5 * ((freqs[None, :] - centre[:, None]) / bandwidth[:, None]) ** 2)
    bursts = np.fft.irfft(np.fft.rfft(noise, axis=1) * shape, n=length, axis=1)
    return bursts / (np.abs(bursts).max(axis=1, keepdims=True) + 1e-12)


def coloured_noise(n_samples: int, fs: int, rng: np.random.Generator, slope_db_oct: float = -3.0,
                   low: float = 20.0, high: float | None = None) -> np.ndarray:
    """Gaussian noise with a spectral slope in dB/octave, band-limited to ``[low, high]``, unit RMS."""
    freqs = np.fft.rfftfreq(n_samples, 1 / fs)
    high = fs / 2 if high is None else high
    gain = np.where((freqs >= low) & (freqs <= high), (np.maximum(freqs, low) / 1000.0) ** (slope_db_oct / 6.02), 0)
    spec = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * gain
    x = np.fft.irfft(spec, n=n_samples)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def smooth_random(n_samples: int, fs: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Slow random curve in [0, 1] whose changes happen at about ``rate_hz``."""
    n_knots = max(4, int(np.ceil(n_samples / fs * rate_hz)) + 2)
    knots = rng.random(n_knots)
    xp = np.linspace(0, n_samples, n_knots)
    curve = np.interp(np.arange(n_samples), xp, knots)
    k = max(1, int(fs / max(rate_hz, 1e-3) / 4))
    kernel = np.hanning(2 * k + 1)
    kernel /= kernel.sum()
    curve = np.convolve(np.pad(curve, k, mode="wrap"), kernel, mode="valid")
    return (curve - curve.min()) / (np.ptp(curve) + 1e-12)


def _finish(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Remove DC, add a white noise floor 60 dB below the signal RMS (as any recording has: it keeps every
    band of the auditory model above numerical noise) and peak-normalise to 0.9."""
    x = x - x.mean()
    x = x + 1e-3 * np.sqrt(np.mean(x**2)) * rng.standard_normal(len(x))
    return (0.9 * x / (np.abs(x).max() + 1e-12)).astype(np.float32)


def rain(seconds: float = 5.0, fs: int = 44100, seed: int = 0, rate: float = 300.0, intensity: float = 1.0,
         brightness: float = 1.0) -> np.ndarray:
    """Rain: drop impacts (clicks + a resonant 'plink' bubble) over a broadband hiss."""
    n = check_arguments(seconds, fs, rate, intensity, brightness)
    rng = np.random.default_rng(seed)
    pos = poisson_events(n, rate, fs, rng)
    e = len(pos)
    glen = int(0.03 * fs)
    clicks = filtered_noise_bursts(e, glen, fs, rng.uniform(2500, 7000, e) * brightness,
                                   rng.uniform(800, 2500, e) * brightness, rng.uniform(0.001, 0.004, e), rng)
    t = np.arange(glen) / fs
    f0 = np.exp(rng.uniform(np.log(1200), np.log(4500), e)) * brightness
    chirp = np.sin(2 * np.pi * f0[:, None] * t * (1 + 8 * t))
    plinks = chirp * np.exp(-t[None, :] / rng.uniform(0.003, 0.012, e)[:, None]) * (rng.random(e) < 0.3)[:, None]
    amp = np.exp(rng.uniform(np.log(0.05), 0, e))[:, None]
    grains = amp * (clicks + 0.5 * plinks)
    bed = coloured_noise(n, fs, rng, -1.5, 300 * brightness, min(fs / 2, 16000 * brightness))
    return _finish(0.08 * bed + intensity * add_tapered_grains(n, pos, grains), rng)


def fire(seconds: float = 5.0, fs: int = 44100, seed: int = 0, rate: float = 15.0, intensity: float = 1.0,
         brightness: float = 1.0) -> np.ndarray:
    """Fire: a low roaring bed and hiss with sharp, heavy-tailed crackles."""
    n = check_arguments(seconds, fs, rate, intensity, brightness)
    rng = np.random.default_rng(seed)
    roar = coloured_noise(n, fs, rng, -9.0, 30, 600 * brightness) * (0.4 + 0.6 * smooth_random(n, fs, 2.0, rng))
    hiss = coloured_noise(n, fs, rng, -2.0, 1500 * brightness, min(fs / 2, 12000 * brightness))
    hiss *= 0.2 + smooth_random(n, fs, 6.0, rng)
    pos = poisson_events(n, rate, fs, rng)
    # crackles come in short bursts: each event spawns a few follow-ups within ~40 ms
    follow = rng.poisson(1.5, len(pos))
    pos = np.sort(np.concatenate([pos, np.repeat(pos, follow) + rng.integers(1, int(0.04 * fs), follow.sum())]))
    e = len(pos)
    glen = int(0.02 * fs)
    crackles = filtered_noise_bursts(e, glen, fs, rng.uniform(1500, 6000, e) * brightness,
                                     rng.uniform(1000, 4000, e) * brightness, rng.uniform(0.0005, 0.003, e), rng)
    amp = np.minimum(rng.pareto(2.0, e) * 0.3 + 0.1, 2.0)[:, None]
    return _finish(0.12 * roar + 0.02 * hiss + 0.5 * intensity * add_tapered_grains(n, pos, amp * crackles), rng)


def wind(seconds: float = 5.0, fs: int = 44100, seed: int = 0, rate: float = 0.5, intensity: float = 1.0,
         brightness: float = 1.0) -> np.ndarray:
    """Wind: broadband noise whose level and spectral centre follow slow random gusts (``rate`` gusts/s)."""
    n = check_arguments(seconds, fs, max(rate, 1e-3), intensity, brightness)
    rng = np.random.default_rng(seed)
    n_bands = 12
    centres = np.geomspace(120, 3000, n_bands) * brightness
    centres = np.minimum(centres, fs / 2.5)
    freqs = np.fft.rfftfreq(n, 1 / fs)
    base = coloured_noise(n, fs, rng, -3.0)
    spec = np.fft.rfft(base)
    shapes = np.exp(-0.5 * (np.log(np.maximum(freqs, 1)[None, :] / centres[:, None]) / 0.25) ** 2)
    bands = np.fft.irfft(spec[None, :] * shapes, n=n, axis=1)                      # (K, n)
    gust = smooth_random(n, fs, max(rate, 1e-3), rng)
    position = (0.2 + 0.6 * gust) * (n_bands - 1)                                   # gusts raise the pitch
    weights = np.exp(-0.5 * ((np.arange(n_bands)[:, None] - position[None, :]) / 1.5) ** 2)
    level = 0.3 + intensity * gust
    return _finish(level * (weights * bands).sum(0) + 0.05 * base, rng)


def stream(seconds: float = 5.0, fs: int = 44100, seed: int = 0, rate: float = 150.0, intensity: float = 1.0,
           brightness: float = 1.0) -> np.ndarray:
    """Bubbling stream: rising-pitch bubble resonances (Minnaert-like) over a gurgling noise bed."""
    n = check_arguments(seconds, fs, rate, intensity, brightness)
    rng = np.random.default_rng(seed)
    pos = poisson_events(n, rate, fs, rng)
    e = len(pos)
    glen = int(0.05 * fs)
    t = np.arange(glen) / fs
    f0 = np.exp(rng.uniform(np.log(400), np.log(2500), e)) * brightness
    rise = rng.uniform(5, 25, e)
    decay = 2.5 / (f0 ** 0.7)                                        # smaller bubbles ring shorter
    phase = 2 * np.pi * f0[:, None] * (t + rise[:, None] * t ** 2 / 2)
    grains = np.sin(phase) * np.exp(-t[None, :] / decay[:, None]) * np.sin(np.pi * np.minimum(t / 0.001, 0.5))
    amp = np.exp(rng.uniform(np.log(0.1), 0, e))[:, None]
    bed = coloured_noise(n, fs, rng, -6.0, 60, 2500 * brightness) * (0.5 + smooth_random(n, fs, 8.0, rng))
    return _finish(0.15 * bed + intensity * add_tapered_grains(n, pos, amp * grains), rng)


def applause(seconds: float = 5.0, fs: int = 44100, seed: int = 0, rate: float = 60.0, intensity: float = 1.0,
             brightness: float = 1.0) -> np.ndarray:
    """Applause: many hand claps (resonant noise bursts, 5–15 ms) at ``rate`` claps per second."""
    n = check_arguments(seconds, fs, rate, intensity, brightness)
    rng = np.random.default_rng(seed)
    pos = poisson_events(n, rate, fs, rng)
    e = len(pos)
    glen = int(0.04 * fs)
    claps = filtered_noise_bursts(e, glen, fs, rng.uniform(800, 2500, e) * brightness,
                                  rng.uniform(400, 1500, e) * brightness, rng.uniform(0.004, 0.012, e), rng)
    amp = rng.uniform(0.3, 1.0, e)[:, None]
    bed = coloured_noise(n, fs, rng, -2.0, 200, min(fs / 2, 8000 * brightness))
    return _finish(0.05 * bed + intensity * add_tapered_grains(n, pos, amp * claps), rng)


def raindrops(seconds: float = 5.0, fs: int = 44100, seed: int = 0, rate: float = 20.0, intensity: float = 1.0,
              brightness: float = 1.0) -> np.ndarray:
    """Isolated rain drops on a quiet background: a sharp click plus a short resonant 'plink' per drop, at a
    known Poisson ``rate`` — the test signal for event-rate estimation and the P-VAE synth."""
    n = check_arguments(seconds, fs, rate, intensity, brightness)
    rng = np.random.default_rng(seed)
    pos = poisson_events(n, rate, fs, rng)
    e = len(pos)
    glen = int(0.02 * fs)
    t = np.arange(glen) / fs
    f0 = np.exp(rng.uniform(np.log(1500), np.log(4000), e)) * brightness
    decay = rng.uniform(0.002, 0.006, e)[:, None]
    plink = np.sin(2 * np.pi * f0[:, None] * t * (1 + 6 * t)) * np.exp(-t[None, :] / decay)
    clicks = filtered_noise_bursts(e, glen, fs, rng.uniform(3000, 7000, e) * brightness,
                                   rng.uniform(1000, 3000, e) * brightness, np.full(e, 0.0008), rng)
    grains = rng.uniform(0.5, 1.0, e)[:, None] * (0.7 * clicks + plink)
    bed = coloured_noise(n, fs, rng, -3.0, 200, min(fs / 2, 10000 * brightness))
    return _finish(0.004 * bed + intensity * add_tapered_grains(n, pos, grains), rng)


TEXTURES: dict[str, Generator] = {
    "rain": rain,
    "fire": fire,
    "wind": wind,
    "stream": stream,
    "applause": applause,
    "raindrops": raindrops,
}


MAX_RATE = 100_000.0
MAX_EVENTS = 5_000_000


def controls_of(name: str) -> tuple[str, ...]:
    """The control parameters a texture generator accepts (besides ``seconds``, ``fs`` and ``seed``)."""
    import inspect

    params = inspect.signature(TEXTURES[name]).parameters
    return tuple(p for p in params if p not in ("seconds", "fs", "seed"))


def make_texture(name: str, seconds: float = 5.0, fs: int = 44100, seed: int = 0, **controls: float) -> np.ndarray:
    """Generate the named texture (``rain``, ``fire``, ``wind``, ``stream``, ``applause``).

    >>> x = make_texture("rain", seconds=0.5, fs=16000, seed=1)
    >>> x.shape, x.dtype, float(abs(x).max())
    ((8000,), dtype('float32'), 0.8999999761581421)
    """
    if name not in TEXTURES:
        raise ValueError(f"unknown texture {name!r}; choose one of {', '.join(TEXTURES)}")
    return TEXTURES[name](seconds=seconds, fs=fs, seed=seed, **controls)


place_grains = renamed("place_grains", add_tapered_grains)   # the procedural one; see synths.events.place_grains
