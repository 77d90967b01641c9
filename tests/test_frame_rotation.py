"""Whole-frame inference must not loop: frames are rotated to random quiet starts before they are joined."""

import math

import numpy as np
import pytest
import torch

from ddsp_textures.dsp.framing import join_circular, rotate_frames
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.models import TexDSP

FS, L = 16000, 4096


def _first_harmonic_phases(y: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Phase of the first Fourier coefficient of each frame's power envelope (smoothed over 64 samples)."""
    power = y[: n_frames * L].reshape(n_frames, L).pow(2)
    smooth = torch.nn.functional.avg_pool1d(power.unsqueeze(1), 64).squeeze(1)
    return torch.angle(torch.fft.rfft(smooth, dim=-1)[:, 1])


def _resultant(phases: torch.Tensor) -> float:
    """Length of the mean unit phasor: 1 when every frame has the same timeline, ≈ 1/√F when random."""
    return float(torch.polar(torch.ones_like(phases), phases).mean().abs())


def test_rotation_is_circular_and_starts_at_the_quietest_candidate():
    frames = torch.randn(5, 512, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    frames[:, 100:140] *= 30                                                 # a loud burst in every frame
    out = rotate_frames(frames, 8, torch.Generator().manual_seed(1))
    for a, b in zip(frames, out, strict=True):
        start = next(s for s in range(512) if torch.equal(torch.roll(a, -s), b))     # a pure rotation
        assert not 100 - 8 <= start < 140 + 8                                   # never joined inside the burst
    again = rotate_frames(frames, 8, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)                                              # reproducible with a seed


def test_rotation_checks_its_arguments():
    with pytest.raises(ValueError, match="fade"):
        rotate_frames(torch.zeros(2, 64), 40)
    with pytest.raises(ValueError, match="candidates"):
        rotate_frames(torch.zeros(2, 64), 4, candidates=0)


def test_identical_frames_no_longer_repeat_one_timeline():
    t = torch.arange(L) / L
    noise = torch.randn(24, L, generator=torch.Generator().manual_seed(0))
    frames = (1 + 0.9 * torch.cos(2 * math.pi * t)) * noise                   # the same slow swell in every frame
    looped = join_circular(frames, 80)
    rotated = join_circular(rotate_frames(frames, 80, torch.Generator().manual_seed(0)), 80)
    assert _resultant(_first_harmonic_phases(looped, 24)) > 0.95
    assert _resultant(_first_harmonic_phases(rotated, 24)) < 0.5


def test_texdsp_resynthesis_does_not_loop_a_decoded_timeline():
    model = TexDSP(["energy_bands", "centroid"], L, FS, 8, 32, hidden_enc=16, hidden_dec=16, seed=3,
                   positive_dc=True).eval()
    with torch.no_grad():                        # every frame decodes the same strong first harmonic
        bias = model.mag_decoder[-1].bias.view(8, 16)
        bias[:, 1] = 2.0
        model.mag_decoder[-1].weight.zero_()
        model.phase_decoder[-1].weight.zero_()
    x = torch.randn(16 * L, generator=torch.Generator().manual_seed(2)).numpy()
    y = torch.tensor(resynthesize(model, x, seed=0))
    assert y.shape == (16 * L,) and torch.isfinite(y).all()
    assert _resultant(_first_harmonic_phases(y, 16)) < 0.6
    looped = torch.tensor(resynthesize(model, x, seed=0, rotate=False))
    assert _resultant(_first_harmonic_phases(looped, 16)) > 0.9
    assert torch.allclose(looped.pow(2).mean(), y.pow(2).mean(), rtol=0.05)   # the same frames, only rotated


def test_frame_repetition_against_scipy_envelopes_and_numpy_correlations():
    from scipy.signal import hilbert

    from ddsp_textures.dsp.filterbanks import erb_bank
    from ddsp_textures.metrics import frame_repetition

    n, length, frames = 6, 2048, 4
    bank = erb_bank(length, FS, n).double()
    rng = np.random.default_rng(0)
    swell = 1 + 0.8 * np.sin(2 * np.pi * 3 * np.arange(length) / length)
    x = (rng.standard_normal((frames, length)) * (swell + rng.uniform(0, 0.5, (frames, 1)))).reshape(-1)
    sub = np.fft.irfft(np.fft.rfft(x.reshape(frames, length))[:, None] * bank.filters[1:-1].numpy(), n=length)
    env = np.abs(hilbert(sub, axis=-1)).reshape(frames, n, -1, 128).mean(-1)          # (F, N, blocks)
    expected = np.mean([np.corrcoef(env[k, b], env[k + 1, b])[0, 1] for k in range(frames - 1) for b in range(n)])
    got = frame_repetition(torch.tensor(x), bank, block=128)
    assert got == pytest.approx(expected, abs=1e-7)
    assert got > 0.5                                       # the common swell repeats in every frame
    rotated = join_circular(rotate_frames(torch.tensor(x).reshape(frames, length), 32,
                                          torch.Generator().manual_seed(0)), 32)
    assert frame_repetition(rotated, bank, block=128) < got
    with pytest.raises(ValueError, match="two frames"):
        frame_repetition(torch.tensor(x[:length]), bank)
