"""The event head shared by the P-VAE and hybrid models (book chapter: *P-VAE synth*): latent frames → bounded
event controls for :func:`~ddsp_textures.synths.pvae.pvae_synthesis`.

Per frame it emits the event rate (events/s), an amplitude exponent ``α = exp(1.5·tanh(·))`` ∈ (0.22, 4.5),
``K`` grain latents ``3·tanh(·)`` — inside the region where the grain VAE's prior ``N(0, I)`` has mass — and,
for the hybrid, the share of the frame's RMS given to the events, ``gain = sigmoid(·)`` ∈ (0, 1).

Event rate: given the *measured* rate of the input frame (the ``events`` feature, i.e.
:func:`ddsp_textures.stats.features.estimate_event_rate`) the rate is that measurement times a learned factor in
``[1/2, 2]``; without it the rate is ``max_rate·sigmoid(·)``.  For a TexStat loss rate and ``α`` trade off
(many quiet events have statistics close to those of fewer loud ones), so the trainer adds a rate supervision
term, :func:`rate_supervision`, that ties the rate to the estimator measured on the target frame.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ddsp_textures.nn import mlp, networks_autocast

MIN_RATE = 0.5          # events/s: the floor of measured and supervised rates


class EventControls(NamedTuple):
    """Per-frame event controls: ``rate (B, S)``, ``alpha (B, S)``, ``latents (B, S, K, d)``, ``gain (B, S)``
    (``None`` without a gain output)."""

    rate: torch.Tensor
    alpha: torch.Tensor
    latents: torch.Tensor
    gain: torch.Tensor | None


class EventHead(nn.Sequential):
    """MLP + linear layer → :class:`EventControls`.  Output layout: ``[rate, α, K·d latents, (gain)]``.

    Shape:
        ``controls(latent (B, S, D), measured (B, S) or None)`` → :class:`EventControls`.

    >>> head = EventHead(32, 16, 1, atoms=3, latent_dim=2, max_rate=100.0, gain=True)
    >>> c = head.controls(torch.randn(2, 5, 32), measured=torch.full((2, 5), 20.0))
    >>> tuple(c.latents.shape), bool(((c.rate >= 10) & (c.rate <= 40)).all()), bool((c.gain < 1).all())
    ((2, 5, 3, 2), True, True)
    """

    def __init__(self, latent_size: int, hidden: int, depth: int, atoms: int, latent_dim: int, max_rate: float,
                 gain: bool = False, measured_rate: bool = True, initial_gain: float = 0.3) -> None:
        if atoms < 1 or latent_dim < 1:
            raise ValueError(f"atoms and latent_dim must be >= 1, got {atoms} and {latent_dim}")
        if max_rate <= 0:
            raise ValueError(f"max_rate must be positive, got {max_rate}")
        out = 2 + atoms * latent_dim + int(gain)
        super().__init__(mlp(latent_size, hidden, depth), nn.Linear(hidden, out))
        self.atoms, self.latent_dim, self.max_rate, self.has_gain = atoms, latent_dim, max_rate, gain
        with torch.no_grad():
            self[-1].weight.mul_(0.1)
            self[-1].bias.zero_()
            if not measured_rate:
                self[-1].bias[0] = math.log(0.1 / 0.9)          # start at 10 % of max_rate
            if gain:
                self[-1].bias[-1] = math.log(initial_gain / (1 - initial_gain))

    def controls(self, latent: torch.Tensor, measured: torch.Tensor | None = None,
                 network_dtype: torch.dtype | None = None) -> EventControls:
        with networks_autocast(latent.device, network_dtype):
            out = self(latent)
        out = out.float()
        if measured is not None:
            base = measured.clamp(MIN_RATE, self.max_rate)
            rate = base * torch.exp(math.log(2.0) * torch.tanh(out[..., 0]))
        else:
            rate = self.max_rate * torch.sigmoid(out[..., 0])
        alpha = torch.exp(1.5 * torch.tanh(out[..., 1]))
        n_latents = self.atoms * self.latent_dim
        latents = 3.0 * torch.tanh(out[..., 2:2 + n_latents]).reshape(*out.shape[:-1], self.atoms, self.latent_dim)
        gain = torch.sigmoid(out[..., -1]) if self.has_gain else None
        return EventControls(rate, alpha, latents, gain)


def rate_supervision(rate: torch.Tensor, measured: torch.Tensor) -> torch.Tensor:
    """Mean squared log-ratio between the rate control and the rate measured on the target frames (both
    floored at :data:`MIN_RATE`): ``0`` when they agree, ``log(2)² ≈ 0.48`` for a factor 2 either way.

    >>> round(float(rate_supervision(torch.tensor([40.0]), torch.tensor([20.0]))), 4)
    0.4805
    """
    return (torch.log(rate.clamp_min(MIN_RATE)) - torch.log(measured.clamp_min(MIN_RATE))).pow(2).mean()
