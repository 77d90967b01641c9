"""Measures of texture similarity (book chapters: *TexStat*, *TexEnv synth*, *DDSP training*).

* :mod:`~ddsp_textures.metrics.distances`: frame-aligned TexStat distance, FAD and KAD on TexStat embeddings,
  long-term spectral deviation, envelope kurtosis and frame repetition;
* :mod:`~ddsp_textures.metrics.mel`: log-mel spectrogram and its Fréchet distance (a measure outside TexStat);
* :mod:`~ddsp_textures.metrics.events`: onset rate, peak-to-median, inter-onset CV and envelope periodicity;
* :mod:`~ddsp_textures.metrics.yardstick`: all of them time-free, against a recording and its own floor;
* :mod:`~ddsp_textures.metrics.results`: benchmark result files, read with their columns checked.
"""

from ddsp_textures.metrics.distances import (
           closest_candidate,
           describe_resynthesis,
           envelope_kurtosis,
           fad,
           frame_audio,
           frame_distance,
           frame_distances,
           frame_repetition,
           frechet_distance,
           kad,
           kernel_distance,
           per_frame_distances,
           texstat_embeddings,
           third_octave_deviation_db,
)
from ddsp_textures.metrics.events import (
           EventStatistics,
           envelope_periodicity,
           event_statistics,
           onset_times,
           upper_band_envelope,
)
from ddsp_textures.metrics.mel import log_mel_spectrogram, mel_filters, mel_frechet_distance
from ddsp_textures.metrics.results import Results, ResultsError, load_results, percent_change
from ddsp_textures.metrics.yardstick import TARGETS, Yardstick, frame_spread, meets_targets, relative

__all__ = ["EventStatistics", "Results", "ResultsError", "TARGETS", "Yardstick", "closest_candidate",
           "describe_resynthesis", "envelope_kurtosis", "envelope_periodicity", "event_statistics", "fad",
           "frame_audio", "frame_distance",
           "frame_distances", "frame_repetition", "frame_spread", "frechet_distance", "kad", "kernel_distance",
           "load_results", "log_mel_spectrogram", "meets_targets", "mel_filters", "mel_frechet_distance",
           "onset_times", "per_frame_distances", "percent_change", "relative", "texstat_embeddings",
           "third_octave_deviation_db", "upper_band_envelope"]
