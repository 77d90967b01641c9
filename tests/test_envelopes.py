import numpy as np
import pytest
import scipy.signal
import torch

from ddsp_textures.dsp.envelopes import analytic_signal, downsample, hilbert_envelope


@pytest.mark.parametrize("n", [1000, 1001])
def test_analytic_signal_matches_scipy(n):
    x = torch.randn(4, n, dtype=torch.float64)
    np.testing.assert_allclose(analytic_signal(x).numpy(), scipy.signal.hilbert(x.numpy(), axis=-1), atol=1e-12)


def test_envelope_of_am_tone_is_the_modulator():
    fs, n = 16000, 16000
    t = torch.arange(n, dtype=torch.float64) / fs
    modulator = 1 + 0.5 * torch.cos(2 * torch.pi * 4 * t)      # periodic in the frame
    x = modulator * torch.sin(2 * torch.pi * 1000 * t)
    np.testing.assert_allclose(hilbert_envelope(x).numpy(), modulator.numpy(), atol=1e-9)


@pytest.mark.parametrize("n, factor", [(1000, 4), (1001, 4), (4096, 2), (999, 3)])
def test_downsample_matches_scipy_resample(n, factor):
    x = torch.randn(3, n, dtype=torch.float64)
    np.testing.assert_allclose(downsample(x, factor).numpy(),
                               scipy.signal.resample(x.numpy(), n // factor, axis=-1), atol=1e-12)


def test_downsample_is_exact_for_band_limited_signals():
    n = 4096
    t = torch.arange(n, dtype=torch.float64)
    x = sum(torch.cos(2 * torch.pi * k * t / n + k) for k in (3, 50, 200, 500))
    np.testing.assert_allclose(downsample(x, 4).numpy(), x[::4].numpy(), atol=1e-10)


def test_envelope_gradient_is_finite_for_silence():
    x = torch.zeros(2, 256, requires_grad=True)
    hilbert_envelope(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_bad_factor_raises():
    with pytest.raises(ValueError):
        downsample(torch.randn(10), 0)
