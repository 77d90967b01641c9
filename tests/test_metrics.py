import numpy as np
import pytest
import torch

from ddsp_textures.metrics import (
    fad,
    frame_audio,
    frechet_distance,
    kad,
    kernel_distance,
    texstat_embeddings,
    third_octave_deviation_db,
)
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths.matching import match_statistics
from ddsp_textures.textures import make_texture


def test_frechet_distance_1d_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, (300, 1)), rng.normal(-0.5, 0.5, (400, 1))
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_formula():
    import scipy.linalg

    rng = np.random.default_rng(1)
    a = rng.normal(size=(2000, 3)) @ np.array([[1.0, 0.3, 0.0], [0.0, 2.0, 0.5], [0.0, 0.0, 3.0]])
    b = rng.normal(size=(2000, 3)) * [2.0, 2.0, 1.0] + [1.0, 0.0, 0.0]
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_is_finite_and_zero_for_identical_singular_sets():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(10, 50))                      # fewer samples than dimensions: singular covariance
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6 * np.trace(np.cov(a, rowvar=False)))
    assert np.isfinite(frechet_distance(a, rng.normal(size=(12, 50))))


def _mmd_numpy(x, y, h):
    def k(p, q):
        d2 = ((p[:, None, :] - q[None, :, :]) ** 2).sum(-1)
        return np.exp(-d2 / (2 * h**2))
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return 100 * ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                  - 2 * kxy.mean())


def test_kernel_distance_matches_numpy_unbiased_mmd():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(60, 4)) + 0.5
    assert kernel_distance(x, y, bandwidth=1.3) == pytest.approx(_mmd_numpy(x, y, 1.3), rel=1e-9)
    with pytest.raises(ValueError, match="kernel"):
        kernel_distance(x, y, kernel="cosine")


def test_texstat_fad_and_kad_separate_textures():
    fs, length = 16000, 4096
    ts = TexStat(length, fs, 8, 4)
    frames = {
        "rain_a": frame_audio(make_texture("rain", 8.0, fs, seed=1), length, length // 2),
        "rain_b": frame_audio(make_texture("rain", 8.0, fs, seed=2), length, length // 2),
        "wind": frame_audio(make_texture("wind", 8.0, fs, seed=1), length, length // 2),
    }
    emb = texstat_embeddings(frames["rain_a"], ts)
    assert emb.shape == (frames["rain_a"].shape[0], 8 * 4 + 28 + 32)
    assert fad(frames["rain_a"], frames["rain_b"], ts) < fad(frames["rain_a"], frames["wind"], ts)
    assert kad(frames["rain_a"], frames["rain_b"], ts) < kad(frames["rain_a"], frames["wind"], ts)


@pytest.mark.parametrize("mode", ["texenv", "waveform"])
def test_statistics_matching_lowers_the_loss(mode):
    ts = TexStat(4096, 16000, 8, 4)
    x = torch.tensor(make_texture("fire", 0.3, 16000, seed=1)[:4096])
    x = (x - x.mean()) / x.std()
    result = match_statistics(x, ts, mode, steps=25, param_per_env=64, generator=torch.Generator().manual_seed(0))
    assert result.audio.shape == (4096,) and torch.isfinite(result.audio).all()
    assert min(result.losses) < 0.8 * result.losses[0]
    assert float(ts(x[None], result.audio[None])) == pytest.approx(min(result.losses), rel=1e-4)
    if mode == "texenv":
        assert result.coefficients.shape == (8, 32)
    with pytest.raises(ValueError):
        match_statistics(x[:100], ts)


def test_frame_distances_share_the_originals_statistics_and_equal_per_frame_losses():
    from ddsp_textures.dsp.framing import zscore
    from ddsp_textures.metrics import frame_distances

    ts = TexStat(4096, 16000, 8, 4)
    g = torch.Generator().manual_seed(3)
    x, y, z = (torch.randn(k * 4096 + 5, generator=g) for k in (5, 4, 6))
    got = frame_distances(ts, x, [y, z])
    for cand, value in zip((y, z), got, strict=True):
        a, b = zscore(x[: len(cand) // 4096 * 4096].unfold(0, 4096, 4096)), zscore(cand.unfold(0, 4096, 4096))
        count = min(len(a), len(b))
        want = np.mean([float(ts(a[i:i + 1], b[i:i + 1])) for i in range(count)])
        assert value == pytest.approx(want, rel=1e-6) and value > 1.0
    assert frame_distances(ts, x, [x])[0] == 0.0


def test_equaliser_undoes_a_known_scipy_filter_and_respects_its_bound():
    from scipy.signal import butter, sosfiltfilt

    from ddsp_textures.dsp.spectral import equalize_to

    fs = 44100
    x = torch.randn(4 * fs, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # a gentle low shelf built with scipy: 0.6·x + 0.4·(zero-phase high-pass at 300 Hz), −4.4 dB at DC
    sos = butter(1, 300, "highpass", fs=fs, output="sos")
    y = torch.tensor(0.6 * x.numpy() + 0.4 * sosfiltfilt(sos, x.numpy()))
    before = third_octave_deviation_db(x, y, fs, low=100)
    assert before[0] < -2.0                                       # 100 Hz: filtered down
    after = third_octave_deviation_db(x, equalize_to(y, x, fs), fs, low=100)
    assert float(np.abs(after).max()) < 0.5, after
    # a 20-dB notch is only filled up to the ±6 dB bound (no invented energy)
    notch = torch.fft.rfft(x)
    freqs = torch.fft.rfftfreq(x.shape[0], 1 / fs)
    notch[(freqs > 2000) & (freqs < 4000)] *= 0.1
    z = torch.fft.irfft(notch, n=x.shape[0])
    fixed = third_octave_deviation_db(x, equalize_to(z, x, fs), fs)
    centres = 1000 * 2.0 ** (np.arange(-10, 13) / 3)
    inside = (centres > 2300) & (centres < 3500)
    assert np.all(np.abs(fixed[inside] + 14.0) < 1.0), fixed[inside]     # −20 dB + 6 dB
    assert torch.equal(equalize_to(y, torch.zeros_like(x), fs), y)       # silent reference: unchanged
    with pytest.raises(ValueError, match="mono"):
        equalize_to(y[None], x, fs)


def test_describe_resynthesis_of_a_louder_copy_is_zero_apart_from_the_level():
    from ddsp_textures.dsp.filterbanks import erb_bank
    from ddsp_textures.dsp.framing import frame_signal
    from ddsp_textures.metrics import describe_resynthesis, envelope_kurtosis, texstat_embeddings
    from ddsp_textures.stats.texstat import TexStat

    x = torch.randn(6 * 4096, generator=torch.Generator().manual_seed(3))
    x[::3000] += 30.0                                                   # clicks: a high envelope kurtosis
    ts, bank = TexStat(4096, 16000, 8, 4), erb_bank(4096, 16000, 8)
    emb = texstat_embeddings(frame_signal(x, 4096, 2048), ts)
    d = describe_resynthesis(x, 2 * x, ts, bank, emb)
    assert sorted(d) == ["fad", "kurt", "lts", "repetition", "texstat"]
    assert d["texstat"] < 1e-4 and abs(d["fad"]) < 1e-6                 # frames are z-scored: level-free
    assert abs(d["lts"] - 20 * np.log10(2)) < 0.01                      # +6.02 dB in every third octave
    assert d["kurt"] == pytest.approx(envelope_kurtosis(x, bank), rel=1e-6) and d["kurt"] > 10
    noise = describe_resynthesis(x, torch.randn(6 * 4096), ts, bank, emb, high=4000.0)
    assert noise["texstat"] > 1 and noise["fad"] > 1 and noise["kurt"] < d["kurt"]
