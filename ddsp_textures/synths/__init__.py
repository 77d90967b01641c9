"""Synthesisers (book chapters *TexEnv synth* and *P-VAE synth*): the TexEnv synth (:mod:`.texenv`), its
carriers (:mod:`.carriers`), its analysis and the DSP resynthesis (:mod:`.analysis`), the band-limited synthesis
kernel (:mod:`.bandlimited`), transient layers (:mod:`.transients`), Poisson events and grains (:mod:`.events`,
:mod:`.pvae`) and statistics matching (:mod:`.matching`)."""

from ddsp_textures.dsp.framing import overlap_add, random_shifts
from ddsp_textures.synths.analysis import (
    band_energy_gram,
    choose_transients,
    match_band_energies,
    texenv_analysis,
    texenv_resynthesize,
)
from ddsp_textures.synths.carriers import carrier_magnitudes, crossover_ripple, make_carriers
from ddsp_textures.synths.texenv import (
    TexEnvSynth,
    compression_ratio,
    envelopes_from_coefficients,
    normalise_loudness,
    normalize_loudness,
    polar_to_coefficients,
    roll_carriers,
    texenv_synthesis,
)

__all__ = [
    "TexEnvSynth",
    "band_energy_gram",
    "choose_transients",
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
