import numpy as np
import pytest
import torch

from ddsp_textures.dsp.spectral import multiscale_spectral_loss
from ddsp_textures.stats.texstat import TexStat, statistics, texstat_loss
from ddsp_textures.textures import make_texture
from tests.reference_numpy import texstat_numpy

ALPHA = (10.0, 1.0, 0.1, 0.01)


def _frames(name, n, length=8192, fs=16000, seed=0):
    x = make_texture(name, seconds=n * length / fs + 0.01, fs=fs, seed=seed)
    x = torch.tensor(x[: n * length]).reshape(n, length)
    return (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True)


def test_statistics_shapes_match_reference_dimensions():
    ts = TexStat(32768, 44100, 16, 6)
    stats = ts.statistics(torch.randn(2, 32768))
    assert [tuple(s.shape) for s in stats] == [(2, 16, 4), (2, 120), (2, 96), (2, 720), (2, 240)]
    assert ts.feature_vector(torch.randn(1, 32768)).shape == (1, 1240)
    ts24 = TexStat(32768, 44100, 24, 6)
    assert [s[0].numel() for s in ts24.statistics(torch.randn(1, 32768))] == [96, 276, 144, 1656, 360]


def test_each_statistic_matches_independent_numpy_reference():
    fs, length = 16000, 8192
    x = torch.randn(length, dtype=torch.float64) * (1 + 0.5 * torch.sin(torch.arange(length) / 200.0))
    ts = TexStat(length, fs, 8, 5, alpha=ALPHA).double()
    ours = [s[0].numpy().reshape(-1) for s in ts.statistics(x)]
    ref = [r.reshape(-1) for r in texstat_numpy(x.numpy(), fs, 8, 5, ALPHA)]
    for k, (a, b) in enumerate(zip(ours, ref, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"S{k + 1}")


def test_float32_statistics_agree_with_float64():
    x = torch.randn(2, 8192, dtype=torch.float64)
    ts = TexStat(8192, 16000, 8, 5)
    s32 = ts.statistics(x.float())
    s64 = ts.double().statistics(x)
    for a, b in zip(s32, s64, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-4)


def test_moments_are_right_for_known_distributions():
    # an exponential envelope has skewness 2 and kurtosis 9; check S1 slots directly
    from ddsp_textures.stats.texstat import envelope_moments

    e = torch.distributions.Exponential(1.0).sample((1, 400_000)).double()
    m = envelope_moments(e, (1, 1, 1, 1))[0]
    assert m[0] == pytest.approx(1.0, abs=0.01)   # mean
    assert m[1] == pytest.approx(1.0, abs=0.02)   # CV² = σ²/μ²
    assert m[2] == pytest.approx(2.0, abs=0.1)    # skewness
    assert m[3] == pytest.approx(9.0, abs=0.8)    # kurtosis (not the reference TS bug's constant)


def test_loss_of_identical_signals_is_zero_with_zero_gradient():
    ts = TexStat(8192, 16000, 8, 5)
    x = _frames("rain", 2)
    y = x.clone().requires_grad_(True)
    loss = ts(x, y)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert torch.isfinite(y.grad).all() and float(y.grad.abs().max()) == 0.0


def test_circular_shift_is_nearly_invisible_but_mss_is_not():
    ts = TexStat(8192, 16000, 8, 5, beta=(1, 1, 1, 1, 1))
    x = _frames("fire", 3)
    other = _frames("applause", 3)
    shifted = torch.roll(x, 2000, dims=-1)
    shift_loss, other_loss = float(ts(x, shifted)), float(ts(x, other))
    assert shift_loss < 0.02 * other_loss
    mss_shift, mss_other = float(multiscale_spectral_loss(x, shifted)), float(multiscale_spectral_loss(x, other))
    assert mss_shift > 0.3 * mss_other


@pytest.mark.parametrize("kind", ["random", "silent", "constant", "impulse"])
def test_gradients_are_finite_for_degenerate_inputs(kind):
    ts = TexStat(4096, 16000, 6, 4)
    base = {"random": torch.randn(2, 4096), "silent": torch.zeros(2, 4096), "constant": torch.ones(2, 4096),
            "impulse": torch.nn.functional.one_hot(torch.tensor([5, 100]), 4096).float()}[kind]
    x = base.clone().requires_grad_(True)
    loss = ts(x, torch.randn(2, 4096))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    for s in ts.statistics(base):
        assert torch.isfinite(s).all()


def test_s5_non_adjacent_modulation_pairs_are_structurally_zero():
    ts = TexStat(16384, 16000, 6, 6)
    s5 = ts.statistics(_frames("stream", 1, 16384))[4].reshape(15, 6)   # (pairs, bands)
    pairs = [(a, b) for a in range(6) for b in range(a + 1, 6)]
    far = torch.stack([s5[i] for i, (a, b) in enumerate(pairs) if b - a > 1])
    near = torch.stack([s5[i] for i, (a, b) in enumerate(pairs) if b - a == 1])
    assert float(far.abs().max()) < 1e-3 < float(near.abs().mean())


def test_textures_of_the_same_class_are_closer_than_different_classes():
    ts = TexStat(8192, 16000, 8, 5)
    rain_a, rain_b, wind = _frames("rain", 2, seed=1), _frames("rain", 2, seed=2), _frames("wind", 2, seed=1)
    assert float(ts(rain_a, rain_b)) < 0.5 * float(ts(rain_a, wind))


def test_functional_forms_agree_with_module():
    x, y = torch.randn(2, 4096), torch.randn(2, 4096)
    ts = TexStat(4096, 16000, 6, 4)
    assert float(texstat_loss(x, y, 16000, 6, 4)) == pytest.approx(float(ts(x, y)), rel=1e-6)
    assert torch.allclose(statistics(x, 16000, 6, 4)[3], ts.statistics(x)[3])


def test_bad_inputs_raise():
    ts = TexStat(4096, 16000, 6, 4)
    with pytest.raises(ValueError, match="same shape"):
        ts(torch.randn(2, 4096), torch.randn(3, 4096))
    with pytest.raises(ValueError, match="NaN"):
        ts.statistics(torch.full((1, 4096), float("nan")))
    with pytest.raises(ValueError, match="divisible"):
        TexStat(4097, 16000)
    with pytest.raises(ValueError, match="beta"):
        TexStat(4096, 16000, beta=(1, 2))


def test_mss_zero_for_identical_and_grows_with_noise():
    x = torch.randn(2, 8192)
    assert float(multiscale_spectral_loss(x, x)) == 0.0
    small = float(multiscale_spectral_loss(x, x + 0.05 * torch.randn_like(x)))
    large = float(multiscale_spectral_loss(x, x + 0.5 * torch.randn_like(x)))
    assert 0 < small < large


def test_eps_regularises_the_moments_as_in_the_published_package():
    # envelope with known mean and variance: the CV² slot is var / (mu² + eps) exactly
    from ddsp_textures.stats.texstat import envelope_moments

    env = torch.tensor([[1e-5, 3e-5] * 50], dtype=torch.float64)   # mu = 2e-5, var ≈ 1e-10
    var = float(env.var())
    for eps in (1e-10, 1e-8):
        cv2 = float(envelope_moments(env, (1, 1, 1, 1), eps=eps)[0, 1])
        assert cv2 == pytest.approx(var / (4e-10 + eps), rel=1e-9)
    # a quiet frame: eps = 1e-8 silences the CV² of near-empty bands, the default does not
    x = 1e-4 * torch.randn(1, 8192, generator=torch.Generator().manual_seed(0))
    quiet = TexStat(8192, 16000, 8, 4, eps=1e-8).statistics(x)[0][0, :, 1]
    default = TexStat(8192, 16000, 8, 4).statistics(x)[0][0, :, 1]
    assert bool((quiet < 0.5 * default).all()) and float((quiet / default).min()) < 0.1
    with pytest.raises(ValueError, match="eps"):
        TexStat(8192, 16000, 8, 4, eps=0.0)


@pytest.mark.parametrize("length, n_bands", [(8192, 8), (44100, 16)])
def test_spectral_pipeline_and_chunks_equal_the_time_domain_pipeline(length, n_bands):
    # statistics() works on spectra (one-sided analytic signal, Parseval for S3–S5) and in batch chunks;
    # the time-domain pipeline (subbands → Hilbert → decimation → modulation bands) must give the same numbers
    from ddsp_textures.dsp.envelopes import downsample, hilbert_envelope
    from ddsp_textures.stats.texstat import _std, _upper_pairs, correlation_matrix, envelope_moments

    ts = TexStat(length, 44100, n_bands, 6).double()
    x = torch.randn(5, length, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    env = hilbert_envelope(ts.cochlear(x))
    dec = downsample(env, 4)
    mod = ts.modulation(dec)
    expected = [envelope_moments(env, ts.alpha), _upper_pairs(correlation_matrix(env)),
                (_std(mod) / _std(dec).unsqueeze(-1)).reshape(5, -1),
                _upper_pairs(correlation_matrix(mod.transpose(1, 2))).transpose(1, 2).reshape(5, -1),
                _upper_pairs(correlation_matrix(mod)).transpose(1, 2).reshape(5, -1)]
    for chunk in (1, 2, 5):
        for got, want in zip(ts.statistics(x, chunk_size=chunk), expected, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_loss_to_cached_statistics_equals_the_loss_and_its_gradient():
    ts = TexStat(8192, 16000, 8, 4)
    y = torch.randn(3, 8192)
    x = torch.randn(3, 8192, requires_grad=True)
    direct = ts(x, y)
    (g_direct,) = torch.autograd.grad(direct, x)
    with torch.no_grad():
        target = ts.statistics(y)
    cached = ts.loss_to_statistics(x, target)
    (g_cached,) = torch.autograd.grad(cached, x)
    assert float(direct.detach()) > 0.1
    torch.testing.assert_close(cached, direct)
    torch.testing.assert_close(g_cached, g_direct)
    with pytest.raises(ValueError, match="different shapes"):
        ts.loss_to_statistics(x, [s[:2] for s in target])
    with pytest.raises(ValueError, match="empty batch"):
        ts.statistics(torch.zeros(0, 8192))
    with pytest.raises(ValueError, match="8192 samples"):
        ts.statistics(torch.zeros(1, 4096))
