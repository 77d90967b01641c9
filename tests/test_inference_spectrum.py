"""The spectrum of model inference: the band loudness it imposes must not count the circular filter's wrap-around
click as energy, and ``resynthesize(equalize=True)`` follows the input's long-term spectrum."""

import numpy as np
import torch

from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.metrics import third_octave_deviation_db
from ddsp_textures.models import TexDSP
from ddsp_textures.stats.features import band_loudness, band_rms

FS, L = 16000, 4096


def _periodic_lowpassed_noise(n: int, seed: int, cutoff: float = 2000.0) -> np.ndarray:
    """Noise with nothing above ``cutoff`` (the top bands empty), exactly periodic in ``n`` samples."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / FS) > cutoff] = 0
    return np.fft.irfft(spectrum, n=n)


def _untrained_model() -> TexDSP:
    return TexDSP(["energy_bands", "centroid"], L, FS, 8, 32, hidden_enc=16, hidden_dec=16, seed=3,
                  positive_dc=True).eval()


def _level_db(x: np.ndarray | torch.Tensor, bank) -> np.ndarray:
    """Band RMS in dB relative to the loudest band."""
    level = band_rms(torch.as_tensor(x, dtype=torch.float64), bank)
    return (20 * torch.log10(level / level.max())).numpy()


def test_tapered_loudness_follows_the_bands_not_the_wrap_click():
    bank = erb_bank(L, FS, 8).double()
    for seed in range(3):
        noise = _periodic_lowpassed_noise(L, seed)
        frame = torch.tensor(noise + np.linspace(-0.5, 0.5, L))       # a ramp: a jump of 1 at the wrap
        truth = 20 * np.log10(band_rms(torch.tensor(noise), bank).numpy())   # periodic noise: no jump
        tapered = 20 * np.log10(band_loudness(frame, bank).numpy())
        circular = 20 * np.log10(band_rms(frame, bank).numpy())
        assert np.abs(tapered - truth)[1:6].max() < 1.5          # the bands with signal: within 1.5 dB
        top = 20 * np.log10(float(frame.pow(2).mean().sqrt()))   # the top band (3.6-8 kHz) is empty ...
        assert tapered[-1] - top < -90.0
        assert circular[-1] - top > -45.0                        # ... except for the circular RMS's click
    frame = torch.tensor(_periodic_lowpassed_noise(L, 0))
    with_residuals = band_loudness(frame, bank, residuals=True)
    assert with_residuals.shape == (10,)
    np.testing.assert_allclose(with_residuals[1:-1].numpy(), band_loudness(frame, bank).numpy(),
                               rtol=1e-6, atol=2e-6)


def test_stationary_noise_has_the_same_loudness_tapered_or_not():
    bank = erb_bank(L, FS, 8).double()
    noise = torch.randn(64, L, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ratio = band_loudness(noise, bank).pow(2).mean(0) / band_rms(noise, bank).pow(2).mean(0)
    np.testing.assert_allclose(ratio.numpy(), 1.0, atol=0.05)      # power-corrected: same expected power


def test_resynthesis_does_not_fill_an_empty_top_band():
    model = _untrained_model()
    t = np.arange(12 * L) / FS
    x = _periodic_lowpassed_noise(12 * L, 2) + 0.3 * np.sin(2 * np.pi * 0.7 * t)   # a slow swell: frame edges jump
    y = resynthesize(model, x.astype(np.float32), seed=0)
    bank = erb_bank(len(x), FS, 8).double()
    before, after = _level_db(x, bank), _level_db(y, bank)
    assert before[-1] < -55.0 and after[-1] < -45.0   # was −37 dB with the circular band RMS as target
    assert np.abs(after - before)[:5].max() < 1.5     # the bands with signal keep their balance


def test_equalised_resynthesis_follows_the_input_spectrum():
    model = _untrained_model()
    rng = np.random.default_rng(4)
    n = 12 * L
    freqs = np.fft.rfftfreq(n, 1 / FS)
    shape = 1 + 30 * np.exp(-0.5 * ((freqs - 700) / 40) ** 2) + 10 * np.exp(-0.5 * ((freqs - 2500) / 150) ** 2)
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * np.sqrt(shape), n=n).astype(np.float32)   # two peaks
    plain = resynthesize(model, x, seed=0)
    equalised = resynthesize(model, x, seed=0, equalize=True)
    worst_plain = np.abs(third_octave_deviation_db(x, plain, FS, high=6000)).max()
    worst_equalised = np.abs(third_octave_deviation_db(x, equalised, FS, high=6000)).max()
    assert worst_plain > 4.0                    # flat in-band carriers: the peaks are lost
    assert worst_equalised < 0.5 * worst_plain and worst_equalised < 3.0
    assert equalised.shape == x.shape and equalised.dtype == np.float32 and np.isfinite(equalised).all()
