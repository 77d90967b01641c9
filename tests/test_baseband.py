import numpy as np
import pytest
import torch
from scipy.signal import hilbert

from ddsp_textures.dsp.baseband import baseband_groups, envelope_coefficients, smooth_size
from ddsp_textures.dsp.filterbanks import erb_bank


def test_smooth_sizes_are_the_next_fast_fft_sizes():
    brute = [next(m for m in range(n, 4 * n + 2) if all(p in (2, 3, 5) for p in _factors(m))) for n in range(1, 400)]
    assert [smooth_size(n) for n in range(1, 400)] == brute


def _factors(m: int) -> list[int]:
    out, p = [], 2
    while m > 1:
        while m % p == 0:
            out.append(p)
            m //= p
        p += 1
    return out


def test_a_tone_gives_its_closed_form_constant_envelope_in_every_band():
    bank = erb_bank(8192, 16000, 8)
    n = torch.arange(8192, dtype=torch.float64)
    for band, response in enumerate(bank.filters[1:-1]):
        k = int(torch.nonzero(response).flatten().median())                # a bin inside the band
        x = 0.7 * torch.cos(2 * np.pi * k * n / 8192 + 0.3)
        c = envelope_coefficients(x, bank, 16)[band]
        # |analytic band signal| = 0.7·H(k) at every sample: coefficient 0 = sqrt(L)·0.7·H(k), the rest 0
        assert float(c[0].real) == pytest.approx(8192**0.5 * 0.7 * float(response[k]), rel=1e-9)
        assert float(c[1:].abs().max()) < 1e-9 * 8192**0.5


@pytest.mark.parametrize("name", ["water.flac", "amazon-rainforest.ogg", "train.ogg"])
def test_coefficients_match_full_rate_scipy_envelopes_of_a_real_recording(recording, name):
    x = recording(name, 44100, start=3.0, seconds=2 ** 15 / 44100)
    bank = erb_bank(2**15, 44100, 16)
    bands = np.fft.irfft(np.fft.rfft(x.astype(np.float64)) * bank.filters[1:-1].numpy(), n=2**15)
    reference = np.fft.rfft(np.abs(hilbert(bands, axis=-1)), norm="ortho", axis=-1)[:, :128]
    c = envelope_coefficients(torch.from_numpy(x).double(), bank, 128).numpy()
    error = np.sqrt((np.abs(c - reference) ** 2).sum(-1) / (np.abs(reference) ** 2).sum(-1))
    assert error.max() < 2e-3                      # the modulus' content above M/2 folds back: ~1e-3 of the RMS
    # and the first coefficient (the envelope's mean) to 3e-4
    np.testing.assert_allclose(c[:, 0].real, reference[:, 0].real, rtol=3e-4)


def test_groups_cover_each_band_once_and_never_exceed_the_full_grid():
    bank = erb_bank(4096, 16000, 6)
    groups = baseband_groups(bank.one_sided, 4096, oversample=3.0, min_size=256)
    assert sorted(b for g in groups for b in g.bands.tolist()) == list(range(6))
    for g in groups:
        assert 256 <= g.size <= 4096
        for row, band in enumerate(g.bands.tolist()):
            support = torch.nonzero(bank.one_sided[band]).flatten()
            assert g.index[row][g.inside[row]].tolist() == support.tolist()


def test_wrong_input_is_one_line():
    bank = erb_bank(4096, 16000, 6)
    with pytest.raises(ValueError, match="n_coeffs"):
        envelope_coefficients(torch.randn(4096), bank, 0)
    with pytest.raises(ValueError, match="4096 samples"):
        envelope_coefficients(torch.randn(4000), bank, 8)
