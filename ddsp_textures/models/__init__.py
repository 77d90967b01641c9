"""DDSP models: a shared feature encoder, TexDSP (TexEnv synth) and the P-VAE model, side by side with
:mod:`ddsp_textures.synths` (book chapters: *DDSP training*, *P-VAE synth*)."""

from ..nn import count_parameters
from .encoder import FeatureEncoder
from .pvae import PVAEModel
from .texdsp import TexDSP
from .upgrade import upgrade_state_dict

__all__ = ["FeatureEncoder", "PVAEModel", "TexDSP", "count_parameters", "upgrade_state_dict"]
