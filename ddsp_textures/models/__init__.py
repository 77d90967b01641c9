"""DDSP models: a shared feature encoder, TexDSP (TexEnv synth), the P-VAE model and their hybrid, side by side
with :mod:`ddsp_textures.synths` (book chapters: *DDSP training*, *P-VAE synth*)."""

from ..nn import count_parameters
from .encoder import FeatureEncoder
from .event_head import EventControls, EventHead
from .hybrid import HybridModel
from .pvae import PVAEModel
from .texdsp import TexDSP
from .upgrade import upgrade_state_dict

__all__ = ["EventControls", "EventHead", "FeatureEncoder", "HybridModel", "PVAEModel", "TexDSP", "count_parameters",
           "upgrade_state_dict"]
