"""DDSP models: a shared feature encoder, TexDSP (TexEnv synth), the P-VAE model and their hybrid, side by side
with :mod:`ddsp_textures.synths` (book chapters: *DDSP training*, *P-VAE synth*)."""

from ddsp_textures.models.encoder import FeatureEncoder
from ddsp_textures.models.event_head import EventControls, EventHead
from ddsp_textures.models.hybrid import HybridModel
from ddsp_textures.models.protocol import TextureModel
from ddsp_textures.models.pvae import PVAEModel
from ddsp_textures.models.texdsp import TexDSP
from ddsp_textures.models.upgrade import upgrade_state_dict
from ddsp_textures.nn import count_parameters

__all__ = ["EventControls", "EventHead", "FeatureEncoder", "HybridModel", "PVAEModel", "TexDSP", "TextureModel",
           "count_parameters", "upgrade_state_dict"]
