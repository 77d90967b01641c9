"""Differentiable synthesisers: TexEnv (noise subbands × low-order Fourier envelopes)."""

from ..framing import overlap_add, random_shifts
from .texenv import (
    TexEnvSynth,
    carrier_magnitudes,
    compression_ratio,
    crossover_ripple,
    envelopes_from_coefficients,
    make_carriers,
    match_band_energies,
    normalise_loudness,
    normalize_loudness,
    polar_to_coefficients,
    roll_carriers,
    texenv_analysis,
    texenv_resynthesize,
    texenv_synthesis,
)

__all__ = [
    "TexEnvSynth",
    "carrier_magnitudes",
    "compression_ratio",
    "crossover_ripple",
    "envelopes_from_coefficients",
    "make_carriers",
    "match_band_energies",
    "normalise_loudness",
    "normalize_loudness",
    "overlap_add",
    "polar_to_coefficients",
    "random_shifts",
    "roll_carriers",
    "texenv_analysis",
    "texenv_resynthesize",
    "texenv_synthesis",
]
