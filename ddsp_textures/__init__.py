"""ddsp-textures: statistics-driven texture sound synthesis with DDSP.

Modules (one per concept): :mod:`~ddsp_textures.filterbanks`, :mod:`~ddsp_textures.envelopes`,
:mod:`~ddsp_textures.texstat`, :mod:`~ddsp_textures.spectral`, :mod:`~ddsp_textures.synths`,
:mod:`~ddsp_textures.framing`, :mod:`~ddsp_textures.textures`, :mod:`~ddsp_textures.features`,
:mod:`~ddsp_textures.models`, :mod:`~ddsp_textures.builders`, :mod:`~ddsp_textures.rundir`,
:mod:`~ddsp_textures.training`, :mod:`~ddsp_textures.grain_training`, :mod:`~ddsp_textures.resynthesis`.
"""

from .envelopes import analytic_signal, downsample, hilbert_envelope
from .filterbanks import FilterBank, erb_bank, modulation_bank
from .spectral import MultiScaleSpectralLoss, multiscale_spectral_loss
from .synths import TexEnvSynth, texenv_analysis, texenv_synthesis
from .texstat import TexStat, statistics, texstat_loss
from .textures import TEXTURES, make_texture

__version__ = "0.1.0"

__all__ = [
    "FilterBank",
    "MultiScaleSpectralLoss",
    "TEXTURES",
    "TexEnvSynth",
    "TexStat",
    "analytic_signal",
    "downsample",
    "erb_bank",
    "hilbert_envelope",
    "make_texture",
    "modulation_bank",
    "multiscale_spectral_loss",
    "statistics",
    "texenv_analysis",
    "texenv_synthesis",
    "texstat_loss",
]
