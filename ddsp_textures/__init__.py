"""ddsp-textures: statistics-driven texture sound synthesis with DDSP.

Sub-packages, one floor each; a module imports only from its own floor or the ones below it:

1. :mod:`~ddsp_textures.dsp` — numerics, filterbanks, envelopes, spectra, framing, audio files;
2. :mod:`~ddsp_textures.stats` — TexStat and the frame features;
3. :mod:`~ddsp_textures.metrics` — distances, time-free measures, benchmark result files;
4. :mod:`~ddsp_textures.synths` — TexEnv, transients, P-VAE grains and events, statistics matching;
5. :mod:`~ddsp_textures.models` — TexDSP, P-VAE and hybrid networks;
6. :mod:`~ddsp_textures.training` — configs, data, loss, trainer, run directories;
7. :mod:`~ddsp_textures.inference` — resynthesis, generation, streaming, export;
8. :mod:`~ddsp_textures.app` — command line, reports, widgets.

Beside them: :mod:`~ddsp_textures.textures` (procedural sounds), :mod:`~ddsp_textures.nn` (network blocks),
:mod:`~ddsp_textures.plotting` and :mod:`~ddsp_textures.threads`.  The workflow functions are importable from
the top: ``from ddsp_textures import train, load_run, resynthesize, generate``.
"""

from ddsp_textures.dsp.envelopes import analytic_signal, downsample, hilbert_envelope
from ddsp_textures.dsp.filterbanks import FilterBank, erb_bank, modulation_bank
from ddsp_textures.dsp.spectral import MultiScaleSpectralLoss, multiscale_spectral_loss
from ddsp_textures.stats.texstat import TexStat, statistics, texstat_loss
from ddsp_textures.synths import TexEnvSynth, texenv_analysis, texenv_synthesis
from ddsp_textures.textures import TEXTURES, make_texture

__version__ = "0.1.0"

# the workflow's entry points, imported on first use (importing the package stays light)
_WORKFLOW = {"train": "training.trainer", "retrain": "training.trainer", "load_config": "training.config",
             "load_run": "training.rundir", "resynthesize": "inference.resynthesis",
             "generate": "inference.generation", "TextureStream": "inference.streaming",
             "export_stream": "inference.export"}


def __getattr__(name: str) -> object:
    if name in _WORKFLOW:
        import importlib

        return getattr(importlib.import_module(f"ddsp_textures.{_WORKFLOW[name]}"), name)
    raise AttributeError(f"module 'ddsp_textures' has no attribute {name!r}")

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
