import numpy as np
import pytest
import torch

from ddsp_textures.envelopes import hilbert_envelope
from ddsp_textures.filterbanks import erb_bank
from ddsp_textures.synths import (
    TexEnvSynth,
    compression_ratio,
    envelopes_from_coefficients,
    make_seed,
    match_band_energies,
    normalise_loudness,
    overlap_add,
    texenv_analysis,
    texenv_synthesis,
)
from ddsp_textures.textures import make_texture


def test_seed_carriers_have_flat_envelopes_and_right_power():
    bank = erb_bank(32768, 44100, 16)
    seed = make_seed(bank, torch.Generator().manual_seed(0))
    assert seed.shape == (16, 32768) and seed.dtype == torch.float32
    np.testing.assert_allclose(seed.pow(2).mean(-1).sqrt().numpy(), 0.5**0.5, rtol=1e-5)
    env = hilbert_envelope(seed.double())
    raw = hilbert_envelope(bank(torch.randn(16, 32768, dtype=torch.float64)).diagonal().T)   # band n of noise n
    cv = lambda e: float((e.std(-1) / e.mean(-1)).median())  # noqa: E731
    # near-unit envelope, and clearly flatter than the envelope of raw Gaussian subbands (Rayleigh, CV ≈ 0.52)
    np.testing.assert_allclose(env.mean(-1).numpy(), 1.0, atol=0.08)
    assert cv(raw) == pytest.approx(0.52, abs=0.03)
    assert cv(env) < 0.7 * cv(raw)
    same = make_seed(bank, torch.Generator().manual_seed(0))
    assert torch.equal(seed, same)


def test_single_coefficient_gives_closed_form_cosine_envelope():
    length, k = 1024, 5
    coeffs = torch.zeros(1, 1, 8, dtype=torch.complex128)
    coeffs[0, 0, 0] = 2.0 * length**0.5          # DC 2
    coeffs[0, 0, k] = 0.5 * length**0.5 * np.exp(1j * 0.3)
    env = envelopes_from_coefficients(coeffs, length)[0, 0]
    t = torch.arange(length, dtype=torch.float64)
    expected = 2.0 + 2 * 0.5 * torch.cos(2 * torch.pi * k * t / length + 0.3)
    np.testing.assert_allclose(env.numpy(), expected.numpy(), atol=1e-10)


def test_vectorised_synthesis_equals_per_band_loop():
    seed = torch.randn(6, 2048, dtype=torch.float64)
    coeffs = torch.randn(3, 6, 20, dtype=torch.complex128)
    out = texenv_synthesis(coeffs, seed)
    loop = torch.zeros(3, 2048, dtype=torch.float64)
    for n in range(6):
        spec = torch.zeros(3, 1025, dtype=torch.complex128)
        spec[:, :20] = coeffs[:, n]
        loop += torch.fft.irfft(spec, n=2048, norm="ortho") * seed[n]
    np.testing.assert_allclose(out.numpy(), loop.numpy(), atol=1e-10)


@pytest.mark.parametrize("name", ["rain", "fire", "wind", "stream", "applause"])
def test_analysis_resynthesis_keeps_band_energies_within_1db(name):
    length, fs = 32768, 44100
    bank = erb_bank(length, fs, 16)
    synth = TexEnvSynth(bank, 256, torch.Generator().manual_seed(1))
    x = torch.tensor(make_texture(name, seconds=1.0, fs=fs, seed=3)[:length]).double()
    coeffs = texenv_analysis(x, bank, synth.n_coeffs)
    ex = bank(x).pow(2).mean(-1)
    matched = match_band_energies(coeffs, synth.seed.double(), bank, ex)
    y = texenv_synthesis(matched, synth.seed.double())
    err_db = 10 * torch.log10(bank(y).pow(2).mean(-1) / ex)
    assert float(err_db.abs().max()) < 1.0, err_db
    # without the energy match the leakage of loud neighbours is visible but bounded in the loud bands
    raw = texenv_synthesis(coeffs, synth.seed.double())
    raw_db = 10 * torch.log10(bank(raw).pow(2).mean(-1) / ex)
    loud = ex > ex.max() * 10 ** (-2.0)   # bands within 20 dB of the loudest
    assert float(raw_db[loud].abs().median()) < 1.5


def test_loudness_normalisation_modes():
    bands = torch.randn(2, 4, 1000)
    generic = normalise_loudness(bands, "generic", torch.tensor([0.5, 2.0]))
    np.testing.assert_allclose(generic.pow(2).mean(-1).sqrt().numpy(), [0.5, 2.0], rtol=1e-4)
    target = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.1, 0.2, 0.3, 0.4]])
    specific = normalise_loudness(bands, "specific", target)
    scaled = bands * (target / bands.pow(2).mean(-1).sqrt()).unsqueeze(-1)
    np.testing.assert_allclose(specific.numpy(), scaled.sum(1).numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="one target per band"):
        normalise_loudness(bands, "specific", 1.0)
    with pytest.raises(ValueError, match="unknown loudness"):
        normalise_loudness(bands, "loud")


def test_overlap_add_has_unit_gain_and_length():
    frames = torch.ones(5, 64)
    out = overlap_add(frames, 32, roll=False)
    assert out.shape == (64 + 4 * 32,)
    np.testing.assert_allclose(out.numpy(), 1.0, atol=1e-6)
    rolled = overlap_add(torch.randn(5, 64), 32, roll=True, generator=torch.Generator().manual_seed(0))
    again = overlap_add(torch.randn(5, 64) * 0 + rolled[:64], 32, roll=False)
    assert rolled.shape == again.shape


def test_seed_is_saved_in_state_dict_and_restored():
    bank = erb_bank(4096, 16000, 8)
    a = TexEnvSynth(bank, 32, torch.Generator().manual_seed(1))
    b = TexEnvSynth(bank, 32, torch.Generator().manual_seed(2))
    assert not torch.equal(a.seed, b.seed)
    b.load_state_dict(a.state_dict())
    coeffs = torch.randn(2, 8, 16, dtype=torch.complex64)
    assert torch.equal(a(coeffs), b(coeffs))


def test_synthesis_is_differentiable():
    bank = erb_bank(4096, 16000, 8)
    synth = TexEnvSynth(bank, 32)
    mag = torch.rand(2, 8, 16, requires_grad=True)
    phase = torch.rand(2, 8, 16, requires_grad=True)
    synth(torch.polar(mag, phase)).pow(2).sum().backward()
    assert mag.grad.abs().sum() > 0 and phase.grad.abs().sum() > 0


def test_invalid_parameters_raise():
    bank = erb_bank(4096, 16000, 8)
    with pytest.raises(ValueError, match="even"):
        TexEnvSynth(bank, 33)
    with pytest.raises(ValueError, match="bands"):
        texenv_synthesis(torch.zeros(1, 3, 4, dtype=torch.complex64), torch.zeros(8, 4096))
    assert compression_ratio(32768, 16, 256) == 8.0
