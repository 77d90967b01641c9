"""DDSP P-VAE model: feature encoder (:class:`~ddsp_textures.models.encoder.FeatureEncoder`) → event controls →
P-VAE synth (book chapter: *P-VAE synth*).

The decoder emits, per frame, an event rate (events/s), an amplitude exponent
``α = exp(1.5·tanh(·))`` ∈ (0.22, 4.5) and ``K`` grain latents ``3·tanh(·)`` — inside the region where the
grain VAE's prior ``N(0, I)`` has mass (the reference drove its autoencoder with latents outside its training
range).  All controls are bounded, event probabilities are clipped, and output frames are z-scored with an
epsilon, so the forward pass is finite for any network output.

Event rate: with the ``events`` feature (the dead-time-corrected onset count of
:func:`ddsp_textures.features.estimate_event_rate`) the rate is that *measured* rate times a learned factor in
``[1/2, 2]`` — analysis gives the control, the network refines it (the rate and ``α`` are otherwise
interchangeable for the loss: many tiny events sound like few audible ones).  Without it the rate is
``max_rate·sigmoid(·)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..features import EVENTS_SCALE
from ..filterbanks import FilterBank
from ..framing import rms, zscore
from ..nn import mlp
from ..synths.events import join_frames
from ..synths.pvae import GrainVAE, pvae_synthesis
from .encoder import FeatureEncoder


class PVAEModel(nn.Module):
    """DDSP model whose synth is the P-VAE (Poisson events × VAE grains).

    Shape:
        ``forward(features)``: list of ``(B, S, dim_i)`` → z-scored audio ``(B, S, L)``.
    """

    vae_trained: torch.Tensor

    def __init__(self, features: Sequence[str], frame_size: int, fs: float, n_bands: int, vae: GrainVAE,
                 atoms: int = 4, hidden_enc: int = 64, hidden_dec: int = 64, depth_enc: int = 2, depth_dec: int = 2,
                 low: float = 20.0, high: float | None = None, max_rate: float = 200.0,
                 temperature: float = 0.3) -> None:
        super().__init__()
        if vae.fs != fs:
            raise ValueError(f"the grain VAE runs at {vae.fs} Hz but the model at {fs} Hz")
        self.encoder = FeatureEncoder(features, frame_size, fs, n_bands, hidden_enc, depth_enc, low, high)
        self.feature_names = self.encoder.feature_names
        self.frame_size, self.fs, self.n_bands = frame_size, fs, n_bands
        self.atoms, self.max_rate, self.temperature = atoms, max_rate, temperature
        self.bank: FilterBank = self.encoder.bank
        self.vae = vae
        self.vae.requires_grad_(False)
        self.register_buffer("vae_trained", torch.zeros((), dtype=torch.bool))
        self.head = nn.Sequential(mlp(self.encoder.latent_size, hidden_dec, depth_dec),
                                  nn.Linear(hidden_dec, 2 + atoms * vae.latent_dim))
        with torch.no_grad():
            self.head[-1].weight.mul_(0.1)
            self.head[-1].bias.zero_()
            if "events" not in self.feature_names:
                self.head[-1].bias[0] = math.log(0.1 / 0.9)    # start at 10 % of max_rate

    def train(self, mode: bool = True) -> PVAEModel:
        super().train(mode)
        self.vae.eval()                                        # the grain VAE stays frozen
        return self

    def features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder.features(frames)

    def controls(self, features: Sequence[torch.Tensor], state: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``rate (B, S)``, ``alpha (B, S)``, ``latents (B, S, K, d)`` from the features."""
        out = self.head(self.encoder(features, state)[0])
        if "events" in self.feature_names:
            measured = features[self.feature_names.index("events")][..., 0] * EVENTS_SCALE
            rate = measured.clamp(0.5, self.max_rate) * torch.exp(math.log(2.0) * torch.tanh(out[..., 0]))
        else:
            rate = self.max_rate * torch.sigmoid(out[..., 0])
        alpha = torch.exp(1.5 * torch.tanh(out[..., 1]))
        latents = 3.0 * torch.tanh(out[..., 2:]).reshape(*out.shape[:-1], self.atoms, self.vae.latent_dim)
        return rate, alpha, latents

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        rate, alpha, latents = self.controls(features)
        y = pvae_synthesis(self.vae, rate, alpha, latents, self.frame_size, relaxed=True,
                           temperature=self.temperature)
        return zscore(y)

    @torch.no_grad()
    def stream(self, features: Sequence[torch.Tensor], target_rms: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Inference on consecutive non-overlapping frames ``(1, F, ·)`` with hard events; grain tails are
        carried into the next frame.  Returns ``(F·L + m − 1,)`` with each frame at RMS ``target_rms (F,)``."""
        rate, alpha, latents = self.controls(features)
        frames, tails = pvae_synthesis(self.vae, rate[0], alpha[0], latents[0], self.frame_size, relaxed=False,
                                       generator=generator, circular=False)
        gain = target_rms.unsqueeze(-1) / (rms(frames) + 1e-8).unsqueeze(-1)
        return join_frames(frames * gain, tails * gain)
