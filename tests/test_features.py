import numpy as np
import pytest
import torch

from ddsp_textures.dsp.filterbanks import erb_bank, erb_number
from ddsp_textures.stats.features import (
    SHAPE_STEPS,
    SPECTRUM_BINS,
    band_shapes,
    compute_features,
    energy_bands,
    feature_dims,
    frame_statistics,
    onset_rate,
    spectral_centroid,
    spectrum_shape,
    statistics_dim,
)


def test_energy_bands_is_log_rms_of_subbands():
    bank = erb_bank(8192, 16000, 12)
    x = torch.randn(2, 8192, dtype=torch.float64)
    sub = bank.double()(x).numpy()
    expected = np.log10(np.sqrt((sub**2).mean(-1) + 1e-12) + 1e-5)
    np.testing.assert_allclose(energy_bands(x, bank).numpy(), expected, rtol=1e-10)


def test_band_shapes_are_segment_log_rms_relative_to_the_band():
    bank = erb_bank(8192, 16000, 12)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8192))
    x[:, : 8192 // 2] *= 0.1                                 # first half 20 dB quieter
    sub = np.fft.irfft(np.fft.rfft(x)[:, None] * bank.filters[1:-1].double().numpy(), n=8192)   # (2, N, L)
    power = (sub.reshape(2, 12, SHAPE_STEPS, -1) ** 2).mean(-1)
    expected = 0.5 * np.log10(power + 1e-10) - 0.5 * np.log10(power.mean(-1, keepdims=True) + 1e-10)
    got = band_shapes(torch.tensor(x), bank.double())
    assert got.shape == (2, 12 * SHAPE_STEPS)
    np.testing.assert_allclose(got.numpy(), expected.reshape(2, -1), rtol=1e-8, atol=1e-8)
    halves = got.reshape(2, 12, 2, SHAPE_STEPS // 2).mean(-1)         # log10 RMS: −1 apart (20 dB)
    np.testing.assert_allclose((halves[..., 1] - halves[..., 0])[:, 3:].numpy(), 1.0, atol=0.15)


def test_frame_statistics_against_scipy_envelopes():
    from scipy.signal import hilbert

    from ddsp_textures.stats.texstat import TexStat

    n, length = 8, 8192
    bank = erb_bank(length, 16000, n).double()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, length)) * (1 + 4 * (np.arange(length) % 2000 < 200))   # bursts: peaky envelopes
    got = frame_statistics(torch.tensor(x), bank)
    assert got.shape == (2, statistics_dim(n)) == (2, 3 * n + 28 + 6 * n + 28 * 6 + 15 * n)
    sub = np.fft.irfft(np.fft.rfft(x)[:, None] * bank.filters[1:-1].numpy(), n=length)
    env = np.abs(hilbert(sub, axis=-1))                                                   # (2, N, L)
    var, centred = env.var(-1, ddof=1), env - env.mean(-1, keepdims=True)       # TexStat: unbiased σ²
    skew, kurt = (centred**3).mean(-1) / var**1.5, (centred**4).mean(-1) / var**2
    s1 = np.stack([np.log10(var / env.mean(-1) ** 2 + 1e-3), np.arcsinh(skew), np.log10(kurt + 1e-3)], -1)
    s1 = s1.reshape(2, -1)
    np.testing.assert_allclose(got[:, : 3 * n].numpy(), s1, rtol=1e-5, atol=1e-5)
    iu = np.triu_indices(n, 1)
    s2 = np.stack([np.corrcoef(e)[iu] for e in env])
    np.testing.assert_allclose(got[:, 3 * n: 3 * n + 28].numpy(), s2, atol=1e-6)
    rest = torch.cat(TexStat.for_bank(bank, 6).double().statistics(torch.tensor(x))[2:], -1)
    np.testing.assert_allclose(got[:, 3 * n + 28:].numpy(), rest.numpy(), atol=1e-10)
    assert float(got[:, 2::3][:, :n].mean()) > 0.6           # log10 kurtosis of bursty bands above Gaussian's 0.5
    silent = frame_statistics(torch.zeros(3, 2, length, dtype=torch.float64), bank)
    assert silent.shape == (3, 2, statistics_dim(n)) and torch.isfinite(silent).all()


def test_centroid_of_a_pure_tone_is_near_its_erb_number():
    bank = erb_bank(16384, 16000, 32)
    t = torch.arange(16384, dtype=torch.float64) / 16000
    for f in (300.0, 1000.0, 4000.0):
        c = float(spectral_centroid(torch.sin(2 * torch.pi * f * t), bank.double()))
        assert c == pytest.approx(float(erb_number(f) / erb_number(8000)), abs=0.03)


def test_onset_rate_counts_isolated_clicks():
    fs, n = 16000, 32000                      # 2 s
    rng = np.random.default_rng(0)
    x = 0.01 * rng.standard_normal(n)
    for k in range(10):                       # 10 clicks → 5 onsets/s → feature 0.5
        start = 1000 + k * 3000
        x[start:start + 80] += rng.standard_normal(80)
    rate = float(onset_rate(torch.tensor(x), fs))
    assert rate == pytest.approx(0.5, abs=0.06)
    steady = float(onset_rate(torch.tensor(rng.standard_normal(n)), fs))
    assert steady < 0.1


def test_features_are_differentiable_and_batched():
    bank = erb_bank(8192, 16000, 8)
    x = torch.randn(3, 2, 8192, requires_grad=True)
    feats = compute_features(x, ["energy_bands", "centroid", "rate"], bank)
    assert [tuple(f.shape) for f in feats] == [(3, 2, 8), (3, 2, 1), (3, 2, 1)]
    sum(f.sum() for f in feats).backward()
    assert torch.isfinite(x.grad).all()
    assert feature_dims(["energy_bands", "centroid", "band_shapes", "statistics"], 8) == [8, 1, 8 * SHAPE_STEPS,
                                                                                         statistics_dim(8)]
    with pytest.raises(ValueError, match="unknown feature"):
        compute_features(x, ["loudness"], bank)


def test_spectrum_shape_against_numpy_bins_and_a_known_tilt():
    fs, n = 16000, 8192
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, n))
    got = spectrum_shape(torch.tensor(x), fs).numpy()
    assert got.shape == (2, SPECTRUM_BINS)
    power = np.abs(np.fft.rfft(x)) ** 2
    power /= power.sum(-1, keepdims=True)
    freqs = np.fft.rfftfreq(n, 1 / fs)
    edges = np.geomspace(40.0, fs / 2, SPECTRUM_BINS + 1)
    expected = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):          # every bin holds FFT bins at this length
        inside = (freqs >= lo) & ((freqs < hi) | (hi == fs / 2))
        expected.append(np.log10(power[:, inside].mean(-1) + 1e-10))
    expected = np.stack(expected, -1)
    np.testing.assert_allclose(got, expected - expected.mean(-1, keepdims=True), atol=1e-9)
    # white noise: flat shape; filtered by |H(f)|^2 = (f / 1 kHz)^-1 (−3 dB per octave): slope −log10(2) per octave
    flat = spectrum_shape(torch.tensor(rng.standard_normal((16, n))), fs).mean(0).numpy()
    assert np.abs(flat[12:]).max() < 0.06                               # (log of few-bin averages: biased low)
    gain = np.sqrt(1000.0 / np.maximum(freqs, 1.0))
    pink = np.fft.irfft(np.fft.rfft(rng.standard_normal((16, n))) * gain, n=n)
    tilted = spectrum_shape(torch.tensor(pink), fs).mean(0).numpy()
    octaves = np.log2(np.sqrt(edges[:-1] * edges[1:]))
    slope = np.polyfit(octaves[12:], tilted[12:], 1)[0]
    assert slope == pytest.approx(-np.log10(2), abs=0.02)
    short = spectrum_shape(torch.randn(1, 512), fs)                   # 31 Hz bins: empty rows take the nearest
    assert torch.isfinite(short).all() and feature_dims(["spectrum_shape"], 8) == [SPECTRUM_BINS]


def test_event_rate_estimate_agrees_with_librosas_onset_detector_where_events_are_sparse():
    """librosa's onset detector (an independent implementation) counts the same sparse drops; where drops come
    closer than its peak-picking windows it merges them, and the dead-time-corrected estimate stays nearer the
    true rate."""
    librosa = pytest.importorskip("librosa")
    from ddsp_textures.stats.features import estimate_event_rate
    from ddsp_textures.textures import make_texture

    fs, seconds = 22050, 30.0
    for rate, agreement in ((2, 0.15), (5, 0.35), (20, None)):
        x = make_texture("raindrops", seconds, fs, seed=1, rate=rate).astype(np.float32)
        ours = float(estimate_event_rate(torch.tensor(x), fs))
        theirs = len(librosa.onset.onset_detect(y=x, sr=fs, units="time")) / seconds
        if agreement is not None:
            assert abs(ours / theirs - 1) < agreement, (rate, ours, theirs)
        assert abs(ours - rate) < abs(theirs - rate) + 0.05 * rate, (rate, ours, theirs)
