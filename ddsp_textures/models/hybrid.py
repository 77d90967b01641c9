"""Hybrid model: a TexEnv bed for the stationary part plus P-VAE events for the transients — one encoder, one
output, one loss (book chapter: *P-VAE synth*).

TexEnv envelopes are band-limited (``P`` Fourier coefficients per frame), so they smear clicks, drops and
crackles; a Poisson process of grains places sharp events anywhere in a frame but cannot render a noise bed.
The hybrid decodes both from one latent:

``y = bed + gain · zscore(events)``

where ``bed`` is the TexEnv synth driven by polar Fourier decoders (as in :class:`~ddsp_textures.models.TexDSP`)
and ``events`` the P-VAE synth driven by an :class:`~ddsp_textures.models.event_head.EventHead` whose extra output
``gain`` ∈ (0, 1) is the events' share of the frame RMS (target frames are z-scored, so a stationary texture can
switch its events off with ``gain → 0``).  The trainer adds ``event_gain_penalty · mean(gain)`` to the loss, so
the events keep a share only where they lower TexStat by more than they cost: measured in
``benchmarks/event_models.py``, without it a hybrid kept random events (gain 0.06–0.23) on a stationary
recording and on clatter, and its bed, trained beside them, was 6–11 % further from the input than TexDSP's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ddsp_textures.dsp.framing import zscore
from ddsp_textures.models.event_head import EventControls, EventHead
from ddsp_textures.models.pvae import measured_rate
from ddsp_textures.models.texdsp import TexEnvBedModel, random_carrier_shifts
from ddsp_textures.stats.features import band_loudness
from ddsp_textures.synths.pvae import GrainVAE, pvae_synthesis


class HybridModel(TexEnvBedModel):
    """TexEnv bed + P-VAE events from one :class:`~ddsp_textures.models.encoder.FeatureEncoder`.

    Args: those of :class:`~ddsp_textures.models.TexDSP` (bed) and :class:`~ddsp_textures.models.PVAEModel`
    (events: ``vae``, ``atoms``, ``max_rate``, ``temperature``); ``initial_gain`` is the events' share at the start.
    The bed's carriers are shifted at random per frame in :meth:`forward` (``shift_carriers``, as in TexDSP), and
    events are straight-through hard events (``straight_through``, as in the P-VAE model).  ``events_enabled``
    (a plain attribute, ``True``) is switched off by the trainer during a run's ``event_warmup_epochs``: the
    bed trains alone first, and the events then take what it cannot render.

    Shape:
        ``forward(features)``: list of ``(B, S, dim_i)`` → audio ``(B, S, L)``.
    """

    vae_trained: torch.Tensor

    def __init__(self, features: Sequence[str], frame_size: int, fs: float, n_bands: int, param_per_env: int,
                 vae: GrainVAE, atoms: int = 4, hidden_enc: int = 128, hidden_dec: int = 128, depth_enc: int = 2,
                 depth_dec: int = 2, low: float = 20.0, high: float | None = None, max_rate: float = 200.0,
                 temperature: float = 0.3, seed: int = 0, initial_gain: float = 0.3,
                 shift_carriers: bool = True, straight_through: bool = True, positive_dc: bool = False) -> None:
        super().__init__()
        self.shift_carriers, self.positive_dc = shift_carriers, positive_dc
        self.events_enabled = True           # False while a run's event_warmup_epochs train the bed alone
        if vae.fs != fs:
            raise ValueError(f"the grain VAE runs at {vae.fs} Hz but the model at {fs} Hz")
        if not 0 < initial_gain < 1:
            raise ValueError(f"initial_gain must be in (0, 1), got {initial_gain}")
        latent = self._build_bed(features, frame_size, fs, n_bands, param_per_env, hidden_enc, hidden_dec,
                                 depth_enc, depth_dec, low, high, seed)          # TexDSP's bed, shared
        self.atoms, self.max_rate, self.temperature = atoms, max_rate, temperature
        self.straight_through = straight_through
        self.vae = vae
        self.vae.requires_grad_(False)
        self.register_buffer("vae_trained", torch.zeros((), dtype=torch.bool))
        self.head = EventHead(latent, hidden_dec, depth_dec, atoms, vae.latent_dim, max_rate, gain=True,
                              measured_rate="events" in self.feature_names, initial_gain=initial_gain)

    def train(self, mode: bool = True) -> HybridModel:
        super().train(mode)
        self.vae.eval()                                        # the grain VAE stays frozen
        return self

    architecture, synthesizes_events, has_grain_vae, exportable = "HYBRID", True, True, True

    @property
    def band_target(self) -> bool:
        return True

    def frame_loudness(self, frames: torch.Tensor) -> torch.Tensor:
        """The RMS of all bands of ``frames (F, L)``, residuals included (``(F, N + 2)``)."""
        return band_loudness(frames, self.bank, residuals=True)

    def set_events_enabled(self, enabled: bool) -> None:
        self.events_enabled = enabled

    def render_frames(self, features: Sequence[torch.Tensor], target: torch.Tensor, shifts: torch.Tensor,
                      frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frames ``frames`` of :meth:`synthesize` at ``target`` (of the kind :meth:`frame_loudness` measures)."""
        return self.synthesize(features, target, shifts, frames=frames, generator=generator)

    def controls(self, features: Sequence[torch.Tensor], state: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, EventControls]:
        """``(bed coefficients (B, S, N, P), event controls)`` of every frame."""
        latent = self.encoder(features, state)[0]
        return self.decode(latent), self.head.controls(latent, measured_rate(self.feature_names, features),
                                                       self.encoder.network_dtype)

    def forward(self, features: Sequence[torch.Tensor], with_controls: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, EventControls]:
        """Frames ``(B, S, L)`` (and the event controls if ``with_controls``: the trainer's rate supervision
        and event gain penalty)."""
        coeffs, c = self.controls(features)
        y = self.render(coeffs, c, random_carrier_shifts(coeffs, self.frame_size, self.shift_carriers))
        return (y, c) if with_controls else y

    def render(self, coeffs: torch.Tensor, controls: EventControls, shifts: torch.Tensor | None,
               relaxed: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """``bed + gain · zscore(events)`` for frames ``(..., L)`` from their controls (training: relaxed or
        straight-through events; inference: ``relaxed=False``, hard events — the same values)."""
        events = pvae_synthesis(self.vae, controls.rate, controls.alpha, controls.latents, self.frame_size,
                                relaxed=relaxed, temperature=self.temperature, generator=generator,
                                straight_through=self.straight_through)
        gain = controls.gain if self.events_enabled else 0.0 * controls.gain   # 0: in the graph, for DDP
        return self.synth(coeffs, shifts=shifts) + gain.unsqueeze(-1) * zscore(events)

    @torch.no_grad()
    def synthesize(self, features: Sequence[torch.Tensor], target: torch.Tensor, shifts: torch.Tensor,
                   frames: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Inference on whole frames with the input's band loudness ``target (B, S', N + 2)`` (RMS of all bands,
        residuals included: :func:`~ddsp_textures.stats.features.band_loudness` with ``residuals=True``, which
        resynthesis measures on the Hann-tapered input frame).

        Each frame is the training forward with hard events — ``bed + gain · zscore(events)``, the mix that
        the loss saw — then given, as a whole, the target band RMS in one zero-phase filter
        (:meth:`~ddsp_textures.dsp.filterbanks.FilterBank.set_band_rms`), so bed and events keep their learned balance
        and the long-term spectrum follows the input.  Measured on 20-s excerpts (``benchmarks/event_models.py``,
        grain dictionary decoder): scaling the bed and the events separately (events capped at 90 % of each
        band, the bed the rest) gave frame TexStat 18.2 on procedural rain drops against 10.5 for the band-RMS
        matched mix (training validation: 10.5), and 1–4 % more on applause, fire and the train clatter; scaling the mix
        to the frame RMS alone left the long-term spectrum 10–18 dB off.
        ``frames`` (indices along ``S``) synthesises only those frames (the GRU still runs over all of them);
        ``target`` and ``shifts (B, S')`` refer to the selected frames.  At inference the frames then pass the
        bed's equaliser where calibration set one (:meth:`equalized`)."""
        coeffs, c = self.controls(features)
        if frames is not None:
            coeffs, c = coeffs[:, frames], EventControls(*(t[:, frames] for t in c))
        mix = self.render(coeffs, c, shifts, relaxed=False, generator=generator)
        return self.equalized(self.bank.set_band_rms(mix, target))
