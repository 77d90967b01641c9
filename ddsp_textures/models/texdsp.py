"""TexDSP: feature encoder (:class:`~ddsp_textures.models.encoder.FeatureEncoder`) → polar Fourier decoders →
TexEnv synth (book chapter: *DDSP training*).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ddsp_textures.dsp.filterbanks import FilterBank
from ddsp_textures.dsp.framing import rms
from ddsp_textures.models.calibration import calibrate_bed_eq, calibrate_layer_gain, calibrate_line_spread
from ddsp_textures.models.encoder import FeatureEncoder
from ddsp_textures.models.protocol import TextureModel
from ddsp_textures.nn import mlp, networks_autocast
from ddsp_textures.stats.features import band_loudness
from ddsp_textures.synths.bed_equalizer import equalize_frames
from ddsp_textures.synths.line_spread import spread_kernel, spread_lines
from ddsp_textures.synths.texenv import Loudness, TexEnvSynth, coefficients_from_logits


def random_carrier_shifts(coeffs: torch.Tensor, length: int, enabled: bool = True) -> torch.Tensor | None:
    """One random carrier shift in ``[0, L)`` per frame of ``coeffs (..., N, P)`` (``None`` if not ``enabled``)."""
    return torch.randint(0, length, coeffs.shape[:-2]) if enabled else None


class TexEnvBedModel(TextureModel):
    """What TexDSP and the hybrid share: the feature encoder, the TexEnv synth with its carriers, and the polar
    Fourier decoders of the bed's envelopes (built in the same order, so the same seed gives the same weights,
    and with the same state-dict keys as before they were shared)."""

    has_carriers = True
    settles_after_training = True            # the bed's line spread (calibrate_line_spread)
    optional_state = ("line_spread", "layer_gain", "bed_eq")
    line_spread: torch.Tensor
    layer_gain: torch.Tensor
    bed_eq: torch.Tensor
    line_kernel: torch.Tensor

    def _build_bed(self, features: Sequence[str], frame_size: int, fs: float, n_bands: int, param_per_env: int,
                   hidden_enc: int, hidden_dec: int, depth_enc: int, depth_dec: int, low: float,
                   high: float | None, seed: int) -> int:
        """Build the encoder, synth and decoders; returns the encoder's latent size."""
        self.encoder = FeatureEncoder(features, frame_size, fs, n_bands, hidden_enc, depth_enc, low, high)
        self.feature_names = self.encoder.feature_names
        self.frame_size, self.fs, self.n_bands = frame_size, fs, n_bands
        self.bank: FilterBank = self.encoder.bank
        self.synth = TexEnvSynth(self.bank, param_per_env, torch.Generator().manual_seed(seed))
        self.n_coeffs = self.synth.n_coeffs
        latent, out = self.encoder.latent_size, n_bands * self.n_coeffs
        self.mag_decoder = nn.Sequential(mlp(latent, hidden_dec, depth_dec), nn.Linear(hidden_dec, out))
        self.phase_decoder = nn.Sequential(mlp(latent, hidden_dec, depth_dec), nn.Linear(hidden_dec, out))
        self.register_buffer("line_spread", torch.ones(()))                          # 1: lines as decoded
        self.register_buffer("line_kernel", torch.eye(self.n_coeffs), persistent=False)
        self.register_buffer("layer_gain", torch.ones(()))         # 1: the reference's events as recorded
        self.register_buffer("bed_eq", torch.ones(frame_size // 2 + 1))       # 1: the bed as synthesised
        self.register_load_state_dict_post_hook(_after_load)
        with torch.no_grad():  # start from small, smooth envelopes: DC ≈ 0.3·√L, higher harmonics ≈ 0
            bias = torch.full((n_bands, self.n_coeffs), -6.0)
            bias[:, 0] = math.log(0.3 / 0.7)
            self.mag_decoder[-1].bias.copy_(bias.reshape(-1))
            self.mag_decoder[-1].weight.mul_(0.1)
        return latent

    def features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Encoder inputs of audio frames ``(..., L)`` computed with the model's own filterbank."""
        return self.encoder.features(frames)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Complex coefficients ``(B, S, N, P)`` of the bed in polar form: magnitude ``√L·sigmoid``, phase
        ``2π·sigmoid``; at inference (not while training) with the lines spread by :attr:`line_spread` where
        calibration set one (:meth:`set_line_spread`)."""
        with networks_autocast(latent.device, self.encoder.network_dtype):
            magnitude, phase = self.mag_decoder(latent), self.phase_decoder(latent)
        coeffs = coefficients_from_logits(magnitude.float(), phase.float(), self.n_bands, self.frame_size,
                                          self.positive_dc)
        if not self.training and bool(self.line_spread > 1.0):
            coeffs = spread_lines(coeffs, self.line_kernel)
        return coeffs

    def set_line_spread(self, ratio: float) -> None:
        """Spread each band's envelope power over the lines within a factor ``ratio`` at inference
        (:func:`~ddsp_textures.synths.line_spread.spread_lines`; 1: the lines as decoded).  Saved with the
        weights as ``line_spread``."""
        if not ratio >= 1.0:
            raise ValueError(f"a line spread is a ratio >= 1, got {ratio}")
        self.line_spread.fill_(float(ratio))
        self.line_kernel.copy_(spread_kernel(self.n_coeffs, float(ratio)).to(self.line_kernel.device))

    def after_training(self, reference: torch.Tensor) -> str | None:
        """Where generation from the training audio places no transient layer, the narrowest line spread that
        takes away a pulse the bed has alone and the audio lacks
        (:func:`~ddsp_textures.models.calibration.calibrate_line_spread`); the bed equalised half way to the
        audio's typical spectrum (:func:`~ddsp_textures.models.calibration.calibrate_bed_eq`); where a layer is
        placed, the gain that makes its events as prominent over the bed as in the audio
        (:func:`~ddsp_textures.models.calibration.calibrate_layer_gain`)."""
        reports = [calibrate_line_spread(self, reference), calibrate_bed_eq(self, reference),
                   calibrate_layer_gain(self, reference)]
        return "; ".join(r for r in reports if r) or None

    def set_bed_eq(self, gains: torch.Tensor | None) -> None:
        """Filter the bed's frames at inference by zero-phase ``gains`` per rfft bin of a frame
        (:func:`~ddsp_textures.synths.bed_equalizer.equalize_frames`; ``None``: none).  Saved with the weights
        as ``bed_eq``."""
        if gains is None:
            self.bed_eq.fill_(1.0)
            return
        gains = torch.as_tensor(gains, dtype=self.bed_eq.dtype)
        if gains.shape != self.bed_eq.shape or not bool(torch.isfinite(gains).all() and (gains > 0).all()):
            raise ValueError(f"a bed equaliser is {self.bed_eq.shape[0]} positive, finite gains")
        self.bed_eq.copy_(gains.to(self.bed_eq.device))

    def equalized(self, frames: torch.Tensor) -> torch.Tensor:
        """Whole frames ``(..., L)`` through the bed's equaliser, at inference only (training sees the bed as
        synthesised); unchanged where none is set."""
        if self.training or not bool((self.bed_eq != 1.0).any()):
            return frames
        return equalize_frames(frames, self.bed_eq)

    def set_layer_gain(self, gain_db: float) -> None:
        """Play the reference's transient layer ``gain_db`` dB over the bed in generation, streaming and
        resynthesis with a layer (0: as recorded).  Saved with the weights as ``layer_gain`` (linear)."""
        if not math.isfinite(gain_db):
            raise ValueError(f"a layer gain is a finite number of dB, got {gain_db}")
        self.layer_gain.fill_(10 ** (gain_db / 20))

    def prepare_carriers(self, spectrum: torch.Tensor, generator: torch.Generator | None = None) -> None:
        self.synth.shape_carriers(spectrum, generator)


def _after_load(module: nn.Module, incompatible: object) -> None:
    """After ``load_state_dict``: the (unsaved) spreading matrix of the loaded ``line_spread``, and a check of the
    loaded ``layer_gain``."""
    module.set_line_spread(float(module.line_spread))
    gain = float(module.layer_gain)
    if not 0.0 < gain < math.inf:
        raise ValueError(f"a layer gain is a positive, finite factor, got {gain}")
    module.set_bed_eq(module.bed_eq.clone())


class TexDSP(TexEnvBedModel):
    """DDSP model with a TexEnv synth.

    Args:
        features: names of the encoder inputs (see :mod:`ddsp_textures.stats.features`).
        frame_size, fs: frame length and sample rate.
        n_bands: cochlear bands ``N``; ``low``/``high`` their limits (shared by features, seed and loss).
        param_per_env: real parameters per band envelope (``P = param_per_env // 2`` coefficients).
        hidden_enc, hidden_dec, depth_enc, depth_dec: MLP sizes.
        seed: integer seed of the noise carriers (stored in ``state_dict`` as the buffer ``synth.carriers``).
        shift_carriers: draw a random carrier shift per frame in :meth:`forward` (training), as inference does.
            With one fixed carrier the decoder learns envelopes that line up with the carrier's own peaks —
            peaky statistics that vanish once inference shifts the carriers (measured: frame TexStat on
            raindrops 13.1 without shifts, 17.9 with them, for a model trained without).
        positive_dc: keep every envelope's mean positive (DC phase fixed at 0; see
            :func:`~ddsp_textures.synths.texenv.coefficients_from_logits`).  Off by default, as models saved
            before the option existed were trained with a free DC phase.

    Shape:
        ``forward(features)``: list of ``(B, S, dim_i)`` → audio ``(B, S, L)``.
    """

    def __init__(self, features: Sequence[str], frame_size: int, fs: float, n_bands: int, param_per_env: int,
                 hidden_enc: int = 128, hidden_dec: int = 128, depth_enc: int = 2, depth_dec: int = 2,
                 low: float = 20.0, high: float | None = None, seed: int = 0, shift_carriers: bool = True,
                 positive_dc: bool = False) -> None:
        super().__init__()
        self.shift_carriers, self.positive_dc = shift_carriers, positive_dc
        self._build_bed(features, frame_size, fs, n_bands, param_per_env, hidden_enc, hidden_dec, depth_enc,
                        depth_dec, low, high, seed)

    architecture, exportable = "TexDSP", True

    @property
    def band_target(self) -> bool:
        """A loudness per band where the encoder sees ``energy_bands``, else the frame RMS."""
        return "energy_bands" in self.feature_names

    def frame_loudness(self, frames: torch.Tensor) -> torch.Tensor:
        """The band loudness of ``frames (F, L)`` (:func:`~ddsp_textures.stats.features.band_loudness`) with
        ``energy_bands``, else their RMS."""
        return band_loudness(frames, self.bank) if self.band_target else rms(frames)

    def render_frames(self, features: Sequence[torch.Tensor], target: torch.Tensor, shifts: torch.Tensor,
                      frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frames ``frames`` of :meth:`synthesize` at ``target`` (of the kind :meth:`frame_loudness` measures)."""
        mode = "specific" if self.band_target else "generic"
        return self.synthesize(features, mode, target, shifts, frames=frames)

    def encode(self, features: Sequence[torch.Tensor], state: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent ``(B, S, (F+1)·H)`` and the GRU's final state."""
        return self.encoder(features, state)

    def forward(self, features: Sequence[torch.Tensor], state: torch.Tensor | None = None) -> torch.Tensor:
        """Frames ``(B, S, L)``; the carriers are shifted by a random offset per frame if ``shift_carriers``
        (drawn from torch's global generator, which the trainer seeds)."""
        coeffs = self.decode(self.encode(features, state)[0])
        return self.synth(coeffs, shifts=random_carrier_shifts(coeffs, self.frame_size, self.shift_carriers))

    @torch.no_grad()
    def synthesize(self, features: Sequence[torch.Tensor], loudness: Loudness = "none",
                   target: torch.Tensor | float = 1.0, shifts: torch.Tensor | None = None,
                   frames: torch.Tensor | None = None) -> torch.Tensor:
        """Inference with loudness imposition (``"generic"``: frame RMS, ``"specific"``: band RMS) and optional
        carrier shifts ``(B, S')`` (see :func:`~ddsp_textures.synths.texenv.texenv_synthesis`).  ``frames``
        (indices along ``S``) synthesises only those frames — the GRU still runs over all of them; ``target`` and
        ``shifts`` then refer to the selected frames.  At inference the frames pass the bed's equaliser where
        calibration set one (:meth:`equalized`)."""
        coeffs = self.decode(self.encode(features)[0])
        if frames is not None:
            coeffs = coeffs[:, frames]
        return self.equalized(self.synth(coeffs, loudness, target, shifts))
