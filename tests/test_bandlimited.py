"""Band-limited TexEnv synthesis against a direct numpy product sum."""

import gc

import numpy as np
import pytest
import torch

from ddsp_textures.dsp.filterbanks import FilterBank, erb_bank
from ddsp_textures.synths import TexEnvSynth, make_carriers, texenv_synthesis
from ddsp_textures.synths.bandlimited import bandlimited_sum


def direct(coeffs: np.ndarray, carriers: np.ndarray, shifts: np.ndarray | None) -> np.ndarray:
    """numpy reference: env_n = irfft(√L·C_n, L); y = Σ_n env_n · roll(carrier_n, shift)."""
    length = carriers.shape[-1]
    env = np.fft.irfft(coeffs * np.sqrt(length), n=length, axis=-1)                 # (B, N, L)
    rolled = carriers[None] if shifts is None else np.stack([np.roll(carriers, s, axis=-1) for s in shifts])
    return (env * rolled).sum(-2)


def linear_bank(length, fs, n_bands):
    return FilterBank(length, fs, n_bands, scale="linear")


@pytest.mark.parametrize("make_bank, length, n_bands, n_coeffs", [
    (erb_bank, 4096, 8, 16),        # ERB: the lowest band starts below P bins (its product folds at DC)
    (erb_bank, 8192, 12, 300),      # P far above the lowest bands' bins
    (linear_bank, 2048, 6, 40),     # linear: wide bands up to Nyquist (folds there)
])
def test_bandlimited_sum_matches_the_direct_product_sum(make_bank, length, n_bands, n_coeffs):
    bank = make_bank(length, 16000, n_bands)
    carriers = make_carriers(bank, torch.Generator().manual_seed(0)).double()
    g = torch.Generator().manual_seed(1)
    coeffs = torch.randn(3, n_bands, n_coeffs, dtype=torch.complex128, generator=g)
    shifts = torch.randint(0, length, (3,), generator=g)
    for s in (None, shifts):
        got = bandlimited_sum(coeffs, carriers, s).numpy()
        want = direct(coeffs.numpy(), carriers.numpy(), None if s is None else s.numpy())
        np.testing.assert_allclose(got, want, atol=1e-6 * np.abs(want).max())


def test_bandlimited_gradients_match_the_blocked_product():
    from ddsp_textures.synths.texenv import _modulated_sum

    bank = erb_bank(4096, 16000, 8)
    carriers = make_carriers(bank, torch.Generator().manual_seed(0)).double()
    coeffs = torch.randn(2, 8, 24, dtype=torch.complex128, generator=torch.Generator().manual_seed(2))
    shifts = torch.tensor([7, 3000])
    grads = []
    for weights in (None, lambda bands, items, part: torch.ones(bands.shape[:-1], dtype=bands.dtype)):
        c = coeffs.clone().requires_grad_()
        y = _modulated_sum(c, carriers, shifts, weights)     # weights: the blocked product path
        (y * torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype)).pow(2).sum().backward()
        grads.append(c.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-7)   # float64 sums in another order


def test_cached_plans_follow_new_and_changed_carriers():
    bank = erb_bank(4096, 16000, 8)
    coeffs = torch.randn(2, 8, 16, dtype=torch.complex64, generator=torch.Generator().manual_seed(3))
    for seed in range(3):                                   # new tensors, possibly in a freed one's memory
        carriers = make_carriers(bank, torch.Generator().manual_seed(seed), iterations=2)
        want = direct(coeffs.numpy().astype(np.complex128), carriers.double().numpy(), None)
        np.testing.assert_allclose(texenv_synthesis(coeffs, carriers).numpy(), want, atol=1e-5)
        del carriers
        gc.collect()
    synth = TexEnvSynth(bank, 32, torch.Generator().manual_seed(0))
    before = synth(coeffs)
    synth.shape_carriers(torch.linspace(1, 0.01, 2049), torch.Generator().manual_seed(5))   # in place
    after = synth(coeffs)
    want = direct(coeffs.numpy().astype(np.complex128), synth.carriers.double().numpy(), None)
    np.testing.assert_allclose(after.numpy(), want, atol=1e-5)
    assert not torch.allclose(before, after)
