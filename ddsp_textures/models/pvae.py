"""DDSP P-VAE model: feature encoder (:class:`~ddsp_textures.models.encoder.FeatureEncoder`) → event controls
(:class:`~ddsp_textures.models.event_head.EventHead`) → P-VAE synth (book chapter: *P-VAE synth*).

All controls are bounded, event probabilities are clipped, and output frames are z-scored with an epsilon, so
the forward pass is finite for any network output.  The reference drove its autoencoder with latents outside
its training range; here the latents stay where the grain VAE's prior has mass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ddsp_textures.dsp.filterbanks import FilterBank
from ddsp_textures.dsp.framing import rms, zscore
from ddsp_textures.dsp.spectral import background_spectrum
from ddsp_textures.models.calibration import calibrate_background_share
from ddsp_textures.models.encoder import FeatureEncoder
from ddsp_textures.models.event_head import EventControls, EventHead
from ddsp_textures.models.protocol import TextureModel
from ddsp_textures.stats.features import EVENTS_SCALE
from ddsp_textures.synths.events import join_frames
from ddsp_textures.synths.pvae import (
    GrainVAE,
    background_noise,
    expected_event_power,
    mix_background,
    pvae_synthesis,
    type_energy,
)


def measured_rate(feature_names: Sequence[str], features: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """The ``events`` feature in events/s ``(B, S)``, or ``None`` when the model does not use it."""
    if "events" not in feature_names:
        return None
    return features[list(feature_names).index("events")][..., 0] * EVENTS_SCALE


BACKGROUND_SEGMENT_S = 0.0116   # segments of the background's median: 256 samples at 22.05 kHz, 512 at 44.1 kHz


class PVAEModel(TextureModel):
    """DDSP model whose synth is the P-VAE (Poisson events × VAE grains).

    ``straight_through``: training forwards hard Bernoulli events (what inference draws) with the gradient of
    the relaxed ones (:func:`~ddsp_textures.synths.events.relaxed_events`).

    ``background``: every frame is the events at ``1 − s`` of its power plus a noise at ``s`` whose spectrum is
    the training audio's background between events (:meth:`prepare_background`,
    :func:`~ddsp_textures.dsp.spectral.background_spectrum`; ``s`` its share of the power: 0.002 for rain drops
    on a quiet bed, 0.5–0.9 for a rainforest or water), lowered after training until the model's resynthesis is
    as prominent as the training audio (:func:`~ddsp_textures.models.calibration.calibrate_background_share`).
    Without it a frame is events alone, and the gaps between them are digital silence where the recording has a
    bed.

    Shape:
        ``forward(features)``: list of ``(B, S, dim_i)`` → z-scored audio ``(B, S, L)``.
    """

    vae_trained: torch.Tensor

    def __init__(self, features: Sequence[str], frame_size: int, fs: float, n_bands: int, vae: GrainVAE,
                 atoms: int = 4, hidden_enc: int = 64, hidden_dec: int = 64, depth_enc: int = 2, depth_dec: int = 2,
                 low: float = 20.0, high: float | None = None, max_rate: float = 200.0,
                 temperature: float = 0.3, straight_through: bool = True, background: bool = False) -> None:
        super().__init__()
        if vae.fs != fs:
            raise ValueError(f"the grain VAE runs at {vae.fs} Hz but the model at {fs} Hz")
        self.encoder = FeatureEncoder(features, frame_size, fs, n_bands, hidden_enc, depth_enc, low, high)
        self.feature_names = self.encoder.feature_names
        self.frame_size, self.fs, self.n_bands = frame_size, fs, n_bands
        self.atoms, self.max_rate, self.temperature = atoms, max_rate, temperature
        self.straight_through = straight_through
        self.bank: FilterBank = self.encoder.bank
        self.vae = vae
        self.vae.requires_grad_(False)
        self.register_buffer("vae_trained", torch.zeros((), dtype=torch.bool))
        self.has_background = background
        self.settles_after_training = background         # the background share is calibrated after training
        if background:                        # measured on the training audio by prepare_background
            self.register_buffer("background", torch.zeros(frame_size // 2 + 1))
            self.register_buffer("background_share", torch.zeros(()))
        self.head = EventHead(self.encoder.latent_size, hidden_dec, depth_dec, atoms, vae.latent_dim, max_rate,
                              measured_rate="events" in self.feature_names)

    def train(self, mode: bool = True) -> PVAEModel:
        super().train(mode)
        self.vae.eval()                                        # the grain VAE stays frozen
        return self

    architecture, synthesizes_events, steps_per_frame, has_grain_vae, exportable = "PVAE", True, 1, True, True

    def frame_loudness(self, frames: torch.Tensor) -> torch.Tensor:
        """The RMS of ``frames (F, L)``: P-VAE frames are synthesised at one level."""
        return rms(frames)

    def features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder.features(frames)

    @torch.no_grad()
    def prepare_background(self, signals: Sequence[torch.Tensor]) -> None:
        """Measure the background between the events of the training audio (segments of about 12 ms)."""
        segment = max(32, 2 * round(BACKGROUND_SEGMENT_S * self.fs / 2))
        power, share = background_spectrum(list(signals), self.frame_size, segment)
        self.background.copy_((power / power.max().clamp_min(1e-300)).sqrt().float())
        self.background_share.fill_(share)

    def after_training(self, reference: torch.Tensor) -> str | None:
        """With a background: its share lowered until the resynthesised events are as prominent as the training
        audio's (:func:`~ddsp_textures.models.calibration.calibrate_background_share`)."""
        if not self.has_background:
            return None
        measured = float(self.background_share)
        share = calibrate_background_share(self, reference)
        if share == measured:
            return None
        return f"events' background share {measured:.3f} -> {share:.3f} (as prominent as the training audio)"

    @torch.no_grad()
    def resynthesize_frames(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Resynthesis of consecutive audio ``frames (F, L)``: their features and RMS, hard events, grain tails
        carried across frames (:meth:`stream`); what ``resynthesize`` and the calibration both play.

        Shape:
            ``(F, L) -> (F·L + m − 1,)``, on ``frames``' device.
        """
        device = next(self.parameters()).device
        features = [f.unsqueeze(0) for f in self.features(zscore(frames).to(device))]
        return self.stream(features, frames.pow(2).mean(-1).sqrt().to(device), generator).to(frames.device)

    def with_background(self, frames: torch.Tensor, controls: EventControls | None = None,
                        generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames of events ``(..., L')`` mixed with the background
        (:func:`~ddsp_textures.synths.pvae.mix_background`, one noise frame drawn per frame) and the events' gain
        ``(..., 1)``; at inference, ``controls`` give the events' expected power."""
        power = None
        if controls is not None:
            energy = type_energy(self.vae, controls.latents)
            power = expected_event_power(controls.rate, controls.alpha, energy, self.fs)
        noise = background_noise(self.background, tuple(frames.shape[:-1]), self.frame_size, generator)
        return mix_background(frames, noise.to(frames.dtype), self.background_share, power)

    def controls(self, features: Sequence[torch.Tensor], state: torch.Tensor | None = None) -> EventControls:
        """Event controls (rate, α, grain latents) of every frame, see :class:`EventHead`."""
        return self.head.controls(self.encoder(features, state)[0], measured_rate(self.feature_names, features),
                                  self.encoder.network_dtype)

    def forward(self, features: Sequence[torch.Tensor], with_controls: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, EventControls]:
        """Z-scored frames ``(B, S, L)`` (and the event controls if ``with_controls``, for the trainer's rate
        supervision)."""
        c = self.controls(features)
        y = pvae_synthesis(self.vae, c.rate, c.alpha, c.latents, self.frame_size, relaxed=True,
                           temperature=self.temperature, straight_through=self.straight_through)
        if self.has_background:
            y = self.with_background(y)[0]
        y = zscore(y)
        return (y, c) if with_controls else y

    @torch.no_grad()
    def stream(self, features: Sequence[torch.Tensor], target_rms: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Inference on consecutive non-overlapping frames ``(1, F, ·)`` with hard events; grain tails are
        carried into the next frame.  Returns ``(F·L + m − 1,)`` with each frame at RMS ``target_rms (F,)``
        (with a background: the mixture of :meth:`with_background`, of unit power where the frame drew its
        expected events, scaled by the target)."""
        c = self.controls(features)
        frames, tails = pvae_synthesis(self.vae, c.rate[0], c.alpha[0], c.latents[0], self.frame_size,
                                       relaxed=False, generator=generator, circular=False)
        if not self.has_background:                 # each frame at its RMS, whatever its events
            gain = target_rms.unsqueeze(-1) / (rms(frames) + 1e-8).unsqueeze(-1)
            return join_frames(frames * gain, tails * gain)
        controls = EventControls(c.rate[0], c.alpha[0], c.latents[0], None)
        frames, events_gain = self.with_background(frames, controls, generator)     # unit power, or less
        gain = target_rms.unsqueeze(-1)                 # where the events were faint: no blown-up background
        return join_frames(frames * gain, tails * events_gain * gain)
