"""Differentiable synthesisers: TexEnv (noise subbands × low-order Fourier envelopes)."""

from .texenv import (
    TexEnvSynth,
    compression_ratio,
    envelopes_from_coefficients,
    make_seed,
    match_band_energies,
    normalise_loudness,
    overlap_add,
    polar_to_coefficients,
    texenv_analysis,
    texenv_resynthesize,
    texenv_synthesis,
)

__all__ = [
    "TexEnvSynth",
    "compression_ratio",
    "envelopes_from_coefficients",
    "make_seed",
    "match_band_energies",
    "normalise_loudness",
    "overlap_add",
    "polar_to_coefficients",
    "texenv_analysis",
    "texenv_resynthesize",
    "texenv_synthesis",
]
