"""The time-free yardstick: is a candidate heard as the same texture as a recording?  (book chapter: *DDSP
training*, section *Generating new texture*)

Frame-aligned TexStat rewards a model for decoding the *average* frame; generated audio has no frame to align
with at all.  The yardstick compares a candidate with a reference recording as two *sets*, with no notion of
time, and puts every number next to the same number for the recording's own second half (its **floor**: what
another stretch of the same texture scores):

* ``kad``: TexStat-embedding kernel distance (:func:`~ddsp_textures.metrics.kad`, half-overlapping frames);
* ``mel_fd``: log-mel Fréchet distance (:func:`~ddsp_textures.metrics.mel_frechet_distance`), outside TexStat;
* ``spread``: how much the candidate's frames differ from each other, relative to the reference's
  (:func:`frame_spread`; 1 = as varied as the recording, 0 = one frame repeated);
* the event statistics of :func:`~ddsp_textures.metrics.event_statistics` (onset rate, peak-to-median,
  IOI CV, periodicity), reported as values beside the reference's own.

Use halves of at least 30 s (40 frames) each: with fewer frames the unbiased KAD of two stretches of one texture
scatters around 0 and can be negative, and a ratio to it means nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from ddsp_textures.metrics.distances import frame_audio, kernel_distance, texstat_embeddings
from ddsp_textures.metrics.events import event_statistics
from ddsp_textures.metrics.mel import mel_frechet_distance
from ddsp_textures.stats.texstat import TexStat

# the issue-29 targets, relative to the floor or to the reference's own value
TARGETS = {"kad_ratio": 1.5, "mel_fd_ratio": 2.0, "rate_tolerance": 0.25, "periodicity_margin": 0.1,
           "spread_tolerance": 0.2}


def frame_spread(embeddings: np.ndarray, reference: np.ndarray) -> float:
    """How varied a set of frame embeddings ``(n, D)`` is relative to a reference set ``(m, D)``: the geometric
    mean over dimensions of the ratio of standard deviations (dimensions where the reference does not vary are
    left out).  1 for a set as varied as the reference, ``c`` for the reference scaled by ``c`` about its mean,
    0 for one frame repeated.

    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=(200, 5)) * [1, 2, 3, 4, 5]
    >>> round(frame_spread(0.5 * ref + 7, ref), 6), round(frame_spread(ref, ref), 6)
    (0.5, 1.0)
    """
    if embeddings.ndim != 2 or reference.ndim != 2 or embeddings.shape[1] != reference.shape[1]:
        raise ValueError(f"need two (n, D) sets of the same D, got {embeddings.shape} and {reference.shape}")
    if embeddings.shape[0] < 2 or reference.shape[0] < 2:
        raise ValueError("each set needs at least 2 embeddings")
    ref_std, std = reference.std(0), embeddings.std(0)
    varied = ref_std > 1e-9 * max(float(ref_std.max()), 1e-300)
    ratio = np.maximum(std[varied], 1e-12) / ref_std[varied]
    return float(np.exp(np.mean(np.log(ratio))))


class Yardstick:
    """Time-free scores of candidates against one reference recording (module docstring).

    Args:
        reference: the recording the candidates should sound like (e.g. the training half), mono.
        fs: sample rate.
        texstat: the TexStat measure whose S1–S3 statistics embed frames (its ``frame_size`` frames them).
        floor: another stretch of the same recording (e.g. its second half); :meth:`floor_scores` scores it.

    >>> ts = TexStat(4096, 16000, 8, 4)
    >>> rng = np.random.default_rng(0)
    >>> stick = Yardstick(rng.standard_normal(16000 * 6), 16000, ts)
    >>> s = stick.scores(rng.standard_normal(16000 * 6))
    >>> sorted(s)[:4], s["spread"] > 0.5
    (['ioi_cv', 'kad', 'mel_fd', 'onset_rate'], True)
    """

    def __init__(self, reference: np.ndarray | torch.Tensor, fs: float, texstat: TexStat,
                 floor: np.ndarray | torch.Tensor | None = None) -> None:
        self.fs, self.texstat = fs, texstat
        self.reference = np.asarray(reference, dtype=np.float64).reshape(-1)
        self.embeddings = self._embed(self.reference)
        self.events = event_statistics(self.reference, fs).as_dict()
        self.floor = None if floor is None else np.asarray(floor, dtype=np.float64).reshape(-1)

    def _embed(self, x: np.ndarray) -> np.ndarray:
        frames = frame_audio(torch.as_tensor(x, dtype=torch.float32), self.texstat.frame_size,
                             self.texstat.frame_size // 2)
        emb = texstat_embeddings(frames, self.texstat)
        if emb.shape[0] < 2:
            raise ValueError(f"need at least 2 frames of {self.texstat.frame_size} samples with finite statistics")
        return emb

    def scores(self, candidate: np.ndarray | torch.Tensor) -> dict[str, float]:
        """``kad``, ``mel_fd``, ``spread`` and the event statistics of ``candidate``."""
        x = np.asarray(candidate, dtype=np.float64).reshape(-1)
        emb = self._embed(x)
        out = {"kad": kernel_distance(self.embeddings, emb), "mel_fd": mel_frechet_distance(self.reference, x, self.fs),
               "spread": frame_spread(emb, self.embeddings)}
        out.update(event_statistics(x, self.fs).as_dict())
        return out

    def floor_scores(self) -> dict[str, float]:
        """:meth:`scores` of the ``floor`` signal (the recording's own other stretch)."""
        if self.floor is None:
            raise ValueError("this Yardstick was built without a floor signal")
        return self.scores(self.floor)


def relative(scores: Mapping[str, float], floor: Mapping[str, float], reference_events: Mapping[str, float]
             ) -> dict[str, float]:
    """``kad`` and ``mel_fd`` divided by the floor's, the onset rate over the reference's, and the periodicity
    above the reference's (the quantities the targets bound; see :func:`meets_targets`).  A ratio to a floor
    that is not positive (an unbiased KAD of short halves) is NaN and meets no target; against a reference
    without onsets the rate ratio is 1 for a candidate without onsets, else infinite.

    >>> relative({"kad": 3.0, "mel_fd": 4.0, "onset_rate": 5.0, "periodicity": 0.3, "spread": 0.9},
    ...          {"kad": 2.0, "mel_fd": 2.0}, {"onset_rate": 4.0, "periodicity": 0.1})["rate_ratio"]
    1.25
    """
    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else math.nan        # a floor <= 0: halves too short for the unbiased KAD

    return {"kad_ratio": ratio(scores["kad"], floor["kad"]), "mel_fd_ratio": ratio(scores["mel_fd"], floor["mel_fd"]),
            "rate_ratio": (ratio(scores["onset_rate"], reference_events["onset_rate"])
                           if reference_events["onset_rate"] > 0 else 1.0 if scores["onset_rate"] == 0 else math.inf),
            "periodicity_excess": scores["periodicity"] - reference_events["periodicity"],
            "spread": scores["spread"]}


def meets_targets(rel: Mapping[str, float], reference_rate: float) -> dict[str, bool]:
    """Which targets a candidate meets, from :func:`relative`: KAD ≤ 1.5× and log-mel FD ≤ 2× the floor, onset
    rate within ±25 % of the reference's (or within 0.2 events/s of a reference with almost none), periodicity
    at most the reference's + 0.1, frame spread within ±20 % of the reference's."""
    rate_ok = (abs(rel["rate_ratio"] - 1) <= TARGETS["rate_tolerance"]
               or abs(rel["rate_ratio"] - 1) * reference_rate <= 0.2)
    return {"kad": rel["kad_ratio"] <= TARGETS["kad_ratio"], "mel_fd": rel["mel_fd_ratio"] <= TARGETS["mel_fd_ratio"],
            "rate": bool(rate_ok), "periodicity": rel["periodicity_excess"] <= TARGETS["periodicity_margin"],
            "spread": abs(rel["spread"] - 1) <= TARGETS["spread_tolerance"]}
