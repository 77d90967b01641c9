"""What every texture model offers the trainer, resynthesis, generation and streaming (book chapter: *DDSP
training*): callers ask a model what it can do instead of checking its class.

A model declares its capabilities as class attributes and implements the hooks below; the three architectures
(:class:`~ddsp_textures.models.TexDSP`, :class:`~ddsp_textures.models.PVAEModel`,
:class:`~ddsp_textures.models.HybridModel`) subclass :class:`TextureModel`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class TextureModel(nn.Module):
    """Base class of the texture models.

    Attributes:
        architecture: the config's name for it (``"TexDSP"``, ``"PVAE"``, ``"HYBRID"``).
        synthesizes_events: it draws its own events (P-VAE, hybrid); otherwise resynthesis may add a transient
            layer taken from the input (TexDSP).
        steps_per_frame: encoder steps per synthesised frame: 2 where the encoder sees half-overlapping frames and
            whole frames are synthesised from the even ones, 1 where every frame is synthesised.
        has_carriers: a TexEnv bed whose carriers can follow the training corpus' spectrum
            (:meth:`prepare_carriers`); generation and streaming place the reference's transient layer over it.
            Such a model also has ``bank`` (its cochlear filterbank) and ``n_coeffs`` (the bed's complex Fourier
            coefficients per band).
        has_grain_vae: a grain VAE that is fitted on the training audio before the model trains.
        has_background: a background noise measured on the training audio (:meth:`prepare_background`).
        exportable: the one-file TorchScript export (:func:`~ddsp_textures.inference.export.export_stream`)
            supports it.
        settles_after_training: :meth:`after_training` fits something to the training audio (the P-VAE's
            background share, a bed's line spread); the trainer reloads the best weights for it only then.
        optional_state: state-dict entries added after runs were first saved; weights without them load with
            the model's defaults.
    """

    architecture: str = ""
    synthesizes_events: bool = False
    steps_per_frame: int = 2
    has_carriers: bool = False
    has_grain_vae: bool = False
    has_background: bool = False
    exportable: bool = False
    settles_after_training: bool = False
    optional_state: tuple[str, ...] = ()
    feature_names: Sequence[str]

    @property
    def band_target(self) -> bool:
        """Whether frames are synthesised at a loudness per band (``True``) or at one RMS."""
        return False

    def frame_loudness(self, frames: torch.Tensor) -> torch.Tensor:
        """The loudness target each frame ``(F, L)`` is synthesised at: ``(F, ·)`` per band, or ``(F,)`` RMS."""
        raise NotImplementedError

    def prepare_carriers(self, spectrum: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Make the carriers follow a long-term power spectrum inside each band (models with carriers)."""
        raise NotImplementedError(f"{type(self).__name__} has no carriers")

    def prepare_background(self, signals: Sequence[torch.Tensor]) -> None:
        """Measure the background between the training audio's events (models with a background)."""
        raise NotImplementedError(f"{type(self).__name__} has no background")

    def after_training(self, reference: torch.Tensor) -> str | None:
        """Settle what is fitted to the training audio ``reference (n,)`` once the weights are trained (the
        trainer calls it on the best model and saves what it changes); returns a one-line report, or ``None``
        where nothing changed.  A no-op by default."""
        return None

    def set_events_enabled(self, enabled: bool) -> None:
        """Switch the model's events on or off (the hybrid's bed warm-up); a no-op for models without a switch."""
