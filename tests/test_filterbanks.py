import numpy as np
import pytest
import torch

from ddsp_textures.dsp.filterbanks import FilterBank, band_cutoffs, erb_bank, filterbank_matrix, modulation_bank
from tests.reference_numpy import bank_matrix, subbands

# cutoff tables computed from the ERB/log formulas of the original code
TABLES = [
    (16, 20, 22050, "erb", [20, 95.3, 193.4, 321.2, 487.7, 704.5, 986.9, 1354.9, 1834.2, 2458.5, 3271.8, 4331.2,
                            5711.2, 7508.8, 9850.4, 12900.7, 16874.1, 22050]),
    (24, 20, 22050, "erb", [20, 69.0, 127.7, 197.9, 281.9, 382.6, 503.0, 647.1, 819.6, 1026.1, 1273.3, 1569.2,
                            1923.3, 2347.2, 2854.5, 3461.8, 4188.8, 5058.8, 6100.3, 7346.8, 8838.9, 10624.9,
                            12762.6, 15321.3, 18384.1, 22050]),
    (24, 100, 22050, "erb", [100, 160.4, 231.9, 316.5, 416.7, 535.3, 675.7, 841.8, 1038.5, 1271.2, 1546.8, 1872.9,
                             2259.0, 2716.0, 3256.9, 3897.2, 4655.1, 5552.2, 6614.1, 7871.0, 9358.8, 11119.9,
                             13204.5, 15672.0, 18592.8, 22050]),
    (16, 20, 16000, "erb", [20, 89.3, 178.0, 291.3, 436.2, 621.4, 858.3, 1161.2, 1548.4, 2043.5, 2676.5, 3485.9,
                            4520.7, 5843.8, 7535.5, 9698.5, 12464.0, 16000]),
    (6, 10, 2756, "log", [10, 22.32, 49.8, 111.13, 248.0, 553.42, 1235.0, 2756]),
    (6, 20, 5512, "log", [20, 44.6, 99.6, 222.3, 496.0, 1106.8, 2470.0, 5512]),
]


@pytest.mark.parametrize("n, low, high, scale, expected", TABLES)
def test_cutoffs_match_reference_tables(n, low, high, scale, expected):
    got = band_cutoffs(n, low, high, scale).numpy()
    np.testing.assert_allclose(got, expected, atol=0.06, rtol=2e-4)


@pytest.mark.parametrize("scale", ["erb", "log", "linear"])
@pytest.mark.parametrize("length, fs, n, low, high", [
    (32768, 44100, 16, 20, 22050), (4096, 16000, 24, 100, 6000),
    (2049, 44100, 8, 50, 20000), (8192, 11025, 6, 10, 2756),
])
def test_tight_frame_sum_of_squares_is_one(scale, length, fs, n, low, high):
    H = filterbank_matrix(length, fs, n, low, high, scale)
    assert H.shape == (length // 2 + 1, n + 2)
    np.testing.assert_allclose((H**2).sum(1).numpy(), 1.0, atol=1e-12)
    assert (H >= 0).all()


@pytest.mark.parametrize("length", [4096, 4097])
@pytest.mark.parametrize("scale, n, low, high", [("erb", 16, 20, 8000), ("log", 6, 10, 4000)])
def test_matrix_matches_loop_reference(length, scale, n, low, high):
    ours = filterbank_matrix(length, 16000, n, low, high, scale).numpy()
    ref = bank_matrix(length, 16000, n, low, high, scale)
    np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_subbands_match_full_fft_reference_and_reconstruct():
    x = torch.randn(3, 4096, dtype=torch.float64)
    bank = FilterBank(4096, 16000, 12, 30, 8000).double()
    bands = bank.all_bands(x)
    assert bands.shape == (3, 14, 4096)
    ref = subbands(x[1].numpy(), bank_matrix(4096, 16000, 12, 30, 8000))
    np.testing.assert_allclose(bands[1].numpy(), ref, atol=1e-10)
    # perfect reconstruction through H²
    np.testing.assert_allclose(bank.reconstruct(bands).numpy(), x.numpy(), atol=1e-10)
    # and energy is preserved (Parseval for a tight frame)
    np.testing.assert_allclose((bands**2).sum((1, 2)).numpy(), (x**2).sum(1).numpy(), rtol=1e-10)


def test_band_pass_output_drops_residuals_and_localises_a_tone():
    bank = erb_bank(32768, 44100, 16)
    t = torch.arange(32768) / 44100
    tone = torch.sin(2 * torch.pi * 1000.0 * t)
    energy = bank(tone).pow(2).mean(-1)
    centres = bank.centre_frequencies
    assert bank(tone).shape == (16, 32768)
    # 1 kHz lies between centres 6 (986.9 Hz) and 7; the band nearest the tone gets most energy
    assert int(energy.argmax()) == int((centres - 1000).abs().argmin())
    assert float(energy.sum()) == pytest.approx(0.5, rel=1e-3)


def test_modulation_bank_defaults_to_reference_limits():
    bank = modulation_bank(8192, 11025, 6)
    np.testing.assert_allclose(bank.centre_frequencies.numpy(), [22.32, 49.8, 111.13, 248.0, 553.42, 1235.0], rtol=1e-3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(length=4096, fs=16000, n_bands=8, low=20, high=9000), "Nyquist"),
    (dict(length=4096, fs=16000, n_bands=0, low=20, high=8000), "number of bands"),
    (dict(length=4096, fs=16000, n_bands=8, low=500, high=100), "low < high"),
    (dict(length=2, fs=16000, n_bands=8, low=20, high=8000), "length"),
])
def test_invalid_banks_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FilterBank(**kwargs)


def test_wrong_signal_length_is_rejected():
    bank = erb_bank(4096, 16000, 8)
    with pytest.raises(ValueError, match="4096 samples"):
        bank(torch.randn(4000))


def test_band_power_and_equalise_against_numpy():
    bank = erb_bank(4096, 16000, 12)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4096))
    h = bank.filters.numpy()                                             # (N + 2, F)
    bands = np.fft.irfft(np.fft.rfft(x)[:, None, :] * h, n=4096)         # numpy subbands, residuals included
    power = bank.band_power(torch.tensor(x))
    np.testing.assert_allclose(power.numpy(), (bands**2).mean(-1), rtol=1e-9)
    # a common gain is a plain gain; targets within ±3 dB per band land within 1.5 dB (crossovers mix gains)
    np.testing.assert_allclose(bank.set_band_rms(torch.tensor(x), 3 * power.sqrt()).numpy(), 3 * x, atol=1e-6)
    target = power.sqrt() * torch.tensor(10 ** rng.uniform(-3 / 20, 3 / 20, (2, 14)))
    y = bank.set_band_rms(torch.tensor(x), target)
    error_db = 10 * np.log10(bank.band_power(y).numpy() / target.numpy() ** 2)
    assert np.abs(error_db).max() < 1.5
    with pytest.raises(ValueError, match="expected target RMS of 14 bands"):
        bank.set_band_rms(torch.tensor(x), target[:, :12])
