"""The time-free yardstick (ddsp_textures.metrics: log-mel FD, event statistics, frame spread) against librosa,
scipy and closed forms."""

import numpy as np
import pytest
import scipy.linalg
import torch

from ddsp_textures.metrics import (
    Yardstick,
    event_statistics,
    frame_spread,
    log_mel_spectrogram,
    meets_targets,
    mel_frechet_distance,
    relative,
    upper_band_envelope,
)
from ddsp_textures.stats.texstat import TexStat

FS = 22050


def clicks(times_s: np.ndarray, seconds: float, fs: int = FS, seed: int = 0, bed: float = 0.01) -> np.ndarray:
    """Short broadband clicks (2-ms decaying noise bursts) at ``times_s`` over a quiet noise bed."""
    rng = np.random.default_rng(seed)
    x = bed * rng.standard_normal(int(seconds * fs))
    burst = rng.standard_normal(int(0.002 * fs)) * np.exp(-np.arange(int(0.002 * fs)) / (0.0005 * fs))
    for t in times_s:
        i = int(t * fs)
        x[i: i + len(burst)] += burst[: len(x) - i]
    return x


def poisson_times(rate: float, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.exponential(1 / rate, int(3 * rate * seconds) + 10))
    return times[times < seconds - 0.01]


def test_log_mel_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(0).standard_normal(FS * 2) * np.linspace(0.1, 1, FS * 2)
    ours = log_mel_spectrogram(x, FS)
    theirs = librosa.power_to_db(librosa.feature.melspectrogram(y=x, sr=FS, n_fft=2048, hop_length=512, n_mels=64),
                                 ref=1.0, amin=1e-10, top_db=None)
    assert ours.shape == theirs.shape == (64, 1 + len(x) // 512)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_mel_frechet_distance_matches_scipy_and_is_level_free():
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(FS * 4), np.diff(rng.standard_normal(FS * 4 + 1))   # white vs +6 dB/octave

    def columns(x):
        x = x / np.sqrt(np.mean(x**2))
        mel = librosa.feature.melspectrogram(y=x, sr=FS, n_fft=2048, hop_length=512, n_mels=64)
        return librosa.power_to_db(mel, ref=1.0, amin=1e-6, top_db=None).T     # floored at -60 dB

    ca, cb = columns(a), columns(b)
    sa, sb = np.cov(ca, rowvar=False), np.cov(cb, rowvar=False)
    expected = ((ca.mean(0) - cb.mean(0)) ** 2).sum() + np.trace(sa + sb - 2 * scipy.linalg.sqrtm(sa @ sb).real)
    assert mel_frechet_distance(a, b, FS) == pytest.approx(expected, rel=1e-4)
    assert mel_frechet_distance(a, 7 * b, FS) == pytest.approx(mel_frechet_distance(a, b, FS), rel=1e-9)


def test_upper_band_envelope_of_a_tone_pair():
    t = np.arange(FS) / FS
    env = upper_band_envelope(0.5 * np.sin(2 * np.pi * 5000 * t) + np.sin(2 * np.pi * 300 * t), FS)
    assert env.shape == (FS // 110,)
    np.testing.assert_allclose(env[5:-5], 0.5, atol=2e-3)       # the 300-Hz tone is below 2 kHz: gone


def test_poisson_clicks_rate_and_irregularity():
    times = poisson_times(4.0, 60.0, seed=2)
    s = event_statistics(clicks(times, 60.0), FS)
    assert s.onset_rate == pytest.approx(len(times) / 60.0, rel=0.1)
    assert 0.8 < s.ioi_cv < 1.2                                  # Poisson: CV of exponential intervals = 1
    assert s.periodicity < 0.2 and s.peak_to_median > 10


def test_metronome_clicks_are_periodic():
    s = event_statistics(clicks(np.arange(0.1, 20.0, 0.25), 20.0), FS)
    assert s.onset_rate == pytest.approx(4.0, rel=0.03)
    assert s.ioi_cv < 0.05 and s.periodicity > 0.8 and s.periodicity_lag_s == pytest.approx(0.25, abs=0.006)


def _modulated_noise(envelope: np.ndarray, seed: int) -> np.ndarray:
    return envelope * np.random.default_rng(seed).standard_normal(envelope.shape[0])


def test_sinusoidal_modulation_period_is_found():
    """Noise under an 8-Hz sinusoidal envelope: the detrended envelope's autocorrelation is cos(2π·8·τ), whose
    first peak is 1 at 125 ms and whose trough before it is −1 (counted as 0)."""
    t = np.arange(20 * FS) / FS
    s = event_statistics(_modulated_noise(1 + 0.9 * np.sin(2 * np.pi * 8 * t), seed=7), FS)
    assert s.periodicity > 0.8 and s.periodicity_lag_s == pytest.approx(0.125, abs=0.006)


def test_faint_flutter_on_a_wandering_envelope_counts_as_faint():
    """Noise under a slowly wandering envelope (white noise smoothed by a 250-ms Gaussian) with a faint 12-Hz
    flutter (±20 %): the envelope's autocorrelation stays high across the lags (numpy reference), with a small
    ripple at 1/12 s.  The ripple is what repeats, and only its rise above the trough before it counts."""
    from scipy.ndimage import gaussian_filter1d, uniform_filter1d

    t = np.arange(20 * FS) / FS
    drift = gaussian_filter1d(np.random.default_rng(9).standard_normal(t.shape[0]), 0.25 * FS)
    x = _modulated_noise(np.exp(drift / drift.std()) * (1 + 0.2 * np.sin(2 * np.pi * 12 * t)), seed=10)
    env = upper_band_envelope(x, FS)
    env = env - uniform_filter1d(env, 400, mode="reflect")
    lag = round(1 / 12 / 0.005)
    assert np.corrcoef(env[:-lag], env[lag:])[0, 1] > 0.8
    s = event_statistics(x, FS)
    assert s.periodicity < 0.15 and s.periodicity_lag_s == pytest.approx(1 / 12, abs=0.006)


def test_steady_noise_has_no_events():
    s = event_statistics(np.random.default_rng(3).standard_normal(FS * 10), FS)
    assert s.onset_rate == 0 and np.isnan(s.ioi_cv) and s.peak_to_median < 1.5


def test_onset_rate_agrees_with_librosa_onset_detector():
    librosa = pytest.importorskip("librosa")
    times = poisson_times(3.0, 30.0, seed=4)
    times = times[np.concatenate([[True], np.diff(times) > 0.08])]   # librosa's detector merges close onsets
    x = clicks(times, 30.0, seed=4)
    theirs = librosa.onset.onset_detect(y=x, sr=FS, units="time", backtrack=False)
    ours = event_statistics(x, FS).onset_rate * 30.0
    assert len(theirs) == pytest.approx(len(times), rel=0.1)
    assert ours == pytest.approx(len(theirs), rel=0.1)


def test_frame_spread_closed_form():
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(300, 4)) * [1.0, 10.0, 0.1, 3.0]
    assert frame_spread(ref, ref) == pytest.approx(1.0)
    assert frame_spread(ref * [2.0, 2.0, 0.5, 0.5] + 3, ref) == pytest.approx(1.0)     # geometric mean of 2,2,.5,.5
    assert frame_spread(np.repeat(ref[:1], 50, 0), ref) < 1e-6
    with pytest.raises(ValueError, match="same D"):
        frame_spread(ref[:, :3], ref)


def test_yardstick_sees_a_repeated_frame_and_missing_events():
    """One click's hop looped vs the recording: spread near 0, more KAD and log-mel FD than its floor, and
    an envelope periodicity the recording lacks."""
    seconds, ts = 24.0, TexStat(4096, FS, 8, 4)
    times = poisson_times(3.0, 2 * seconds, seed=6)
    recording = clicks(times, 2 * seconds, seed=6, bed=0.2)
    first, second = recording[: int(seconds * FS)], recording[int(seconds * FS):]
    stick = Yardstick(first, FS, ts, floor=second)
    floor = stick.floor_scores()
    assert floor["spread"] == pytest.approx(1.0, abs=0.2) and abs(floor["kad"]) < 1
    start = int(times[0] * FS) - 100
    loop = np.tile(first[start: start + 2048], int(seconds * FS) // 2048)     # one click every 93 ms, looped
    scores = stick.scores(loop)
    rel = relative(scores, floor, stick.events)
    met = meets_targets(rel, stick.events["onset_rate"])
    assert scores["spread"] < 0.3 and rel["kad_ratio"] > 2 and rel["periodicity_excess"] > 0.5
    assert not met["spread"] and not met["periodicity"] and not met["kad"]
    assert meets_targets(relative(floor, floor, stick.events), stick.events["onset_rate"])["rate"]
    with pytest.raises(ValueError, match="floor"):
        Yardstick(first, FS, ts).floor_scores()


def test_event_statistics_refuse_bad_signals():
    with pytest.raises(ValueError, match="finite"):
        event_statistics(np.array([0.0, np.nan] * 1000), FS)
    with pytest.raises(ValueError, match="at least"):
        event_statistics(np.zeros(10), FS)
    with pytest.raises(ValueError, match="finite"):
        log_mel_spectrogram(torch.tensor([np.inf] * 100), FS)
