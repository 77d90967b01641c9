"""The P-VAE's "atom" grain draw: every event sounds one real grain of the dictionary, drawn from the decoder's
weights, with the blend's gradient (ddsp_textures.synths.pvae)."""

import numpy as np
import pytest
import torch

from ddsp_textures.synths.events import hard_events
from ddsp_textures.synths.pvae import (
    GrainVAE,
    choose_atoms,
    expected_event_power,
    pvae_synthesis,
    type_energy,
)
from ddsp_textures.training.builders import build_model
from ddsp_textures.training.config import ConfigError, parse_config, saved_config_defaults

FS, M = 16000, 512


def _vae(draw: str, size: int = 3, uniform: bool = True) -> GrainVAE:
    torch.manual_seed(0)
    vae = GrainVAE(M, FS, n_bands=8, latent_dim=2, hidden=32, dictionary_size=size, draw=draw)
    vae.set_dictionary(torch.randn(40, M), torch.Generator().manual_seed(0))
    if uniform:                                    # equal weights, unit band gains (0 dB)
        with torch.no_grad():
            vae.to_choice.weight.zero_(), vae.to_choice.bias.zero_()
            vae.to_gains.weight.zero_(), vae.to_gains.bias.zero_()
    return vae


def test_choose_atoms_draws_each_index_with_its_weight():
    weights = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]]).repeat_interleave(20000, 0)
    chosen = choose_atoms(weights, torch.Generator().manual_seed(0)).numpy()
    first = np.bincount(chosen[:20000], minlength=3) / 20000
    second = np.bincount(chosen[20000:], minlength=3) / 20000
    np.testing.assert_allclose(first, [0.1, 0.6, 0.3], atol=0.012)     # binomial sd <= 0.0035
    np.testing.assert_allclose(second, [0.5, 0.0, 0.5], atol=0.012)
    assert second[1] == 0.0                                            # a zero weight is never drawn


def test_every_event_of_the_atom_draw_is_one_real_grain():
    vae = _vae("atom")
    n, rate = 4 * FS, torch.tensor(6.0)
    with torch.no_grad():
        frame, tail = pvae_synthesis(vae, rate, torch.tensor(1.0), torch.zeros(1, 2), n, relaxed=False,
                                     generator=torch.Generator().manual_seed(3), circular=False)
        # the same events, drawn independently with the same seed (hard_events draws first)
        events = hard_events(rate.reshape(1), torch.ones(1), n, FS, torch.Generator().manual_seed(3))[0]
    y = torch.cat([frame, tail]).double().numpy()
    at = torch.nonzero(events).reshape(-1).numpy()
    atoms = (vae.dictionary * vae.window).double().numpy()          # unit gains leave an atom as it is
    blend = atoms.mean(0)
    lone = [t for i, t in enumerate(at) if (i == 0 or t - at[i - 1] >= M) and (i == len(at) - 1 or at[i + 1] - t >= M)]
    assert len(lone) >= 10
    used = set()
    for t in lone:
        segment = y[t:t + M] / float(events[t])
        errors = np.abs(atoms - segment).max(-1)
        assert errors.min() < 1e-4 * np.abs(atoms).max(), errors      # exactly one dictionary grain...
        assert np.abs(blend - segment).max() > 0.1                     # ...not the blend of them
        used.add(int(errors.argmin()))
    assert used == {0, 1, 2}                                           # drawn from all three


def test_the_atom_draw_has_the_gradient_of_the_blend():
    outputs, grads = {}, {}
    for draw in ("atom", "mixture"):
        vae = _vae(draw, size=4, uniform=False)
        rate = torch.full((2, 3), 40.0, requires_grad=True)
        latents = torch.randn(2, 3, 2, 2, generator=torch.Generator().manual_seed(1), requires_grad=True)
        y = pvae_synthesis(vae, rate, torch.ones(2, 3), latents, 4096, relaxed=True, straight_through=True,
                           generator=torch.Generator().manual_seed(5))
        (y * torch.linspace(-1, 1, 4096)).sum().backward()
        outputs[draw], grads[draw] = y.detach(), (rate.grad, latents.grad)
    assert (outputs["atom"] - outputs["mixture"]).abs().max() > 0.01
    for a, b in zip(grads["atom"], grads["mixture"], strict=True):
        torch.testing.assert_close(a, b)
        assert a.abs().max() > 0


def test_expected_power_of_the_atom_draw_is_what_it_plays():
    vae = _vae("atom", size=4)
    latents = torch.zeros(2, 2)                                        # two grain types, equal weights
    with torch.no_grad():
        energy = type_energy(vae, latents)
    atoms = (vae.dictionary * vae.window).double()
    np.testing.assert_allclose(energy.numpy(), [float(atoms.pow(2).sum(-1).mean())] * 2, rtol=1e-5)
    rate, alpha = torch.tensor(30.0), torch.tensor(0.5)
    with torch.no_grad():
        y = pvae_synthesis(vae, rate, alpha, latents, 200 * FS, relaxed=False,
                           generator=torch.Generator().manual_seed(0))
    expected = float(expected_event_power(rate, alpha, energy, FS))      # 30/16000 · 1/2 · E
    assert float(y.pow(2).mean()) == pytest.approx(expected, rel=0.1)


def test_new_runs_draw_atoms_and_earlier_runs_keep_the_blend():
    assert parse_config({"architecture": "PVAE", "audio_path": "x"}).vae_grain_draw == "atom"
    assert saved_config_defaults({"architecture": "PVAE"})["vae_grain_draw"] == "mixture"
    noise = parse_config({"architecture": "PVAE", "audio_path": "x", "vae_decoder": "noise", "frame_size": 4096,
                          "hop_size": 2048, "vae_grain_size": 1024})
    assert build_model(noise).vae.draw == "mixture"                     # no dictionary to draw from
    with pytest.raises(ConfigError, match="vae_grain_draw"):
        parse_config({"architecture": "PVAE", "audio_path": "x", "vae_grain_draw": "sample"})
    with pytest.raises(ConfigError, match="straight_through_events"):
        parse_config({"architecture": "HYBRID", "audio_path": "x", "straight_through_events": False})
    with pytest.raises(ValueError, match="needs the dictionary decoder"):
        GrainVAE(M, FS, decoder="noise", draw="atom")


def test_frames_without_events_are_silent_in_both_draws():
    for draw in ("atom", "mixture"):
        vae = _vae(draw)
        with torch.no_grad():
            frame, tail = pvae_synthesis(vae, torch.full((3,), 1e-6), torch.ones(3), torch.zeros(3, 2, 2), 4096,
                                         relaxed=False, generator=torch.Generator().manual_seed(0), circular=False)
            trained = pvae_synthesis(vae, torch.full((3,), 1e-6), torch.ones(3), torch.zeros(3, 2, 2), 4096,
                                     straight_through=True, generator=torch.Generator().manual_seed(0))
        assert frame.shape == (3, 4096) and tail.shape == (3, M - 1) and trained.shape == (3, 4096)
        assert float(frame.abs().max()) == float(tail.abs().max()) == float(trained.abs().max()) == 0.0
