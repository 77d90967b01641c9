"""Texture synthesis by statistics matching — a training-free baseline (book chapter: *TexStat*).

McDermott & Simoncelli synthesise a texture by imposing the statistics of a target on a noise signal.  Here
the imposition is gradient descent on the TexStat loss, either on the samples of a signal initialised with
noise (``"waveform"``) or on the polar envelope coefficients of a TexEnv synth with a fixed seed
(``"texenv"``, which also yields the TexEnv parameters of the result).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from tqdm.auto import tqdm

from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths.analysis import texenv_analysis
from ddsp_textures.synths.carriers import make_carriers
from ddsp_textures.synths.texenv import texenv_synthesis


@dataclass
class MatchResult:
    """Synthesised frame ``(L,)``, loss per step, and TexEnv coefficients (``"texenv"`` mode only)."""

    audio: torch.Tensor
    losses: list[float] = field(default_factory=list)
    coefficients: torch.Tensor | None = None


def match_statistics(target: torch.Tensor, texstat: TexStat, mode: Literal["waveform", "texenv"] = "texenv",
                     steps: int = 300, lr: float | None = None, param_per_env: int = 256,
                     generator: torch.Generator | None = None, progress: bool = False) -> MatchResult:
    """Synthesise one frame whose TexStat statistics match those of ``target`` (a z-scored frame ``(L,)``).

    Args:
        target: the frame whose statistics are imposed (length ``texstat.frame_size``).
        texstat: the statistics/loss module.
        mode: ``"waveform"`` optimises samples from Gaussian noise; ``"texenv"`` optimises log-magnitudes and
            phases of the envelope coefficients (initialised from white noise's analysis).
        steps, lr: Adam iterations and learning rate (defaults: 0.01 waveform, 0.05 texenv).
        param_per_env: TexEnv parameters per band (``"texenv"`` mode).
    """
    if target.dim() != 1 or target.shape[0] != texstat.frame_size:
        raise ValueError(f"target must be one frame of {texstat.frame_size} samples, got {tuple(target.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    target = target.unsqueeze(0)
    noise = torch.randn(texstat.frame_size, generator=generator).to(target.device, target.dtype)
    if mode == "waveform":
        params = [noise.clone().requires_grad_(True)]
        lr = 0.01 if lr is None else lr

        def render() -> torch.Tensor:
            return params[0]
    elif mode == "texenv":
        bank = texstat.cochlear
        seed = make_carriers(bank, generator).to(target.device, target.dtype)
        start = texenv_analysis(noise, bank, param_per_env // 2)
        log_mag = torch.log(start.abs() + 1e-6).requires_grad_(True)
        phase = start.angle().requires_grad_(True)
        params = [log_mag, phase]
        lr = 0.05 if lr is None else lr

        def render() -> torch.Tensor:
            return texenv_synthesis(torch.polar(log_mag.exp(), phase), seed)
    else:
        raise ValueError(f"unknown mode {mode!r}; use 'waveform' or 'texenv'")
    optimiser = torch.optim.Adam(params, lr=lr)
    losses: list[float] = []
    best, best_audio = math.inf, None
    for _ in tqdm(range(steps), disable=not progress, desc=f"matching ({mode})", unit="step"):
        y = render().unsqueeze(0)
        loss = texstat(target, y)
        value = float(loss.detach())
        if value < best:  # snapshot before the step (in waveform mode y *is* the parameter)
            best, best_audio = value, y.detach()[0].clone()
        losses.append(value)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    coeffs = torch.polar(params[0].detach().exp(), params[1].detach()) if mode == "texenv" else None
    return MatchResult(best_audio, losses, coeffs)
