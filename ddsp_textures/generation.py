"""Controlling textures: a trained TexDSP model generates any length of texture from feature curves
(book chapter: *DDSP training*).

The model's encoder inputs are set frame by frame instead of being measured on an input recording: each
feature starts from its mean over a *reference* recording (by default the run's training audio) and follows
the curves the user gives —

* ``loudness`` (dB, relative to the reference): added to ``energy_bands`` and applied as output gain (each
  band at the reference's mean band loudness, :func:`~ddsp_textures.features.band_loudness`, plus the curve);
* ``centroid`` (Hz): the spectral centroid, converted to the ``centroid`` feature's ERB-number scale;
* ``rate`` (events per second): the ``rate`` feature (soft onset count) and/or the ``events`` feature.

A curve is a number (constant) or breakpoints ``"t0:v0,t1:v1,..."`` (seconds: value), linearly interpolated
and held constant outside the given times.  Whole frames are synthesised with random carrier shifts and joined
with short circular crossfades, like a resynthesis (:mod:`ddsp_textures.resynthesis`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .features import EVENTS_SCALE, RATE_SCALE, band_loudness
from .filterbanks import erb_number
from .framing import frame_signal, join_model_frames, random_shifts, wrap_pad, zscore
from .models import TexDSP

Curve = float | int | str | Sequence[tuple[float, float]]
MAX_SECONDS = 3600.0


def parse_curve(curve: Curve, name: str = "curve") -> list[tuple[float, float]]:
    """Breakpoints ``[(time, value), ...]`` of a curve given as a number, a ``"t:v,t:v"`` string or pairs.

    >>> parse_curve("0:-6, 10:0")
    [(0.0, -6.0), (10.0, 0.0)]
    >>> parse_curve(3)
    [(0.0, 3.0)]
    """
    if isinstance(curve, (int, float)) and not isinstance(curve, bool):
        points = [(0.0, float(curve))]
    elif isinstance(curve, str):
        points = []
        for part in curve.split(","):
            part = part.strip()
            if not part:
                continue
            time, sep, value = part.partition(":")
            try:
                points.append((float(time), float(value)) if sep else (0.0, float(time)))
            except ValueError:
                raise ValueError(f"{name}: cannot read {part!r}; use a number or 'seconds:value' pairs "
                                 f"such as '0:-6,10:0'") from None
    else:
        points = [(float(t), float(v)) for t, v in curve]
    if not points:
        raise ValueError(f"{name}: empty curve")
    times = [t for t, _ in points]
    if not all(math.isfinite(t) and math.isfinite(v) for t, v in points):
        raise ValueError(f"{name}: times and values must be finite numbers")
    if min(times) < 0 or any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise ValueError(f"{name}: times must be >= 0 and increasing, got {times}")
    return points


def curve_values(curve: Curve, times: np.ndarray, name: str = "curve") -> np.ndarray:
    """The curve sampled at ``times`` (seconds)."""
    points = parse_curve(curve, name)
    return np.interp(times, [t for t, _ in points], [v for _, v in points])


def _reference_frames(model: TexDSP, reference: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Z-scored half-overlapping frames ``(F, L)`` of a reference recording, on the model's device."""
    x = torch.as_tensor(np.asarray(reference, dtype=np.float32)).reshape(-1)
    if x.shape[0] < model.frame_size:
        x = wrap_pad(x, model.frame_size)
    return zscore(frame_signal(x, model.frame_size, model.frame_size // 2)).to(next(model.parameters()).device)


def _mean_features(model: TexDSP, frames: torch.Tensor) -> list[torch.Tensor]:
    return [f.mean(0).cpu() for f in model.features(frames)]


@torch.no_grad()
def reference_features(model: TexDSP, reference: np.ndarray | torch.Tensor) -> list[torch.Tensor]:
    """Mean of each encoder input over the frames of a reference recording: one ``(dim,)`` tensor each."""
    return _mean_features(model, _reference_frames(model, reference))


def _mean_log_loudness(model: TexDSP, frames: torch.Tensor) -> torch.Tensor:
    """``log10`` of each band's loudness (:func:`~ddsp_textures.features.band_loudness`, Hann-tapered frames)
    averaged over reference frames: ``(N,)``, the level :func:`generate` gives each band."""
    return torch.log10(band_loudness(frames, model.bank).clamp_min(1e-12)).mean(0)


@torch.no_grad()
def generate(model: TexDSP, seconds: float, reference: np.ndarray | torch.Tensor, loudness: Curve = 0.0,
             centroid: Curve | None = None, rate: Curve | None = None, seed: int = 0) -> np.ndarray:
    """Generate ``seconds`` of texture whose features follow the given curves (see the module docstring).

    Returns float32 audio at the model's sample rate; level 0 dB is that of a z-scored (unit-RMS) frame.

    Shape:
        returns ``(round(seconds · fs),)``.
    """
    if not isinstance(model, TexDSP):
        raise ValueError("generation needs a TexDSP model (P-VAE and hybrid runs are not supported)")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise ValueError(f"seconds must be a number in (0, {MAX_SECONDS:g}], got {seconds!r}")
    names = model.feature_names
    if centroid is not None and "centroid" not in names:
        raise ValueError(f"this model has no 'centroid' input (its features: {', '.join(names)})")
    if rate is not None and not {"rate", "events"} & set(names):
        raise ValueError(f"this model has no 'rate' or 'events' input (its features: {', '.join(names)})")
    fs, length = int(model.fs), model.frame_size
    hop, n = length // 2, int(round(seconds * fs))
    n_frames = 2 * max(1, -(-n // length)) - 1          # half-overlap frames; the even ones tile the output
    times = (np.arange(n_frames) * hop + length / 2) / fs                    # frame centres (s)
    gain_db = curve_values(loudness, times, "loudness")
    feats = []
    frames = _reference_frames(model, reference)                # framed once: features and band loudness
    for name, base in zip(names, _mean_features(model, frames), strict=True):
        values = base.expand(n_frames, base.shape[0]).clone()
        if name == "energy_bands":
            values += torch.tensor(gain_db / 20, dtype=values.dtype).unsqueeze(-1)
        elif name == "centroid" and centroid is not None:
            hz = np.clip(curve_values(centroid, times, "centroid"), 0, fs / 2)
            values[:, 0] = (erb_number(torch.tensor(hz)) / erb_number(fs / 2)).to(values.dtype)
        elif name in ("rate", "events") and rate is not None:
            per_second = np.clip(curve_values(rate, times, "rate"), 0, None)
            scale = RATE_SCALE if name == "rate" else EVENTS_SCALE
            values[:, 0] = torch.tensor(per_second / scale, dtype=values.dtype)
        feats.append(values)
    device = next(model.parameters()).device
    feats = [f.unsqueeze(0).to(device) for f in feats]
    gain = torch.tensor(10 ** (gain_db / 20), dtype=torch.float32, device=device).unsqueeze(0)   # (1, F)
    if "energy_bands" in names:                        # band loudness of the reference, with the loudness curve
        level = _mean_log_loudness(model, frames) + torch.tensor(gain_db / 20, device=device)[:, None]
        target, mode = (10 ** level).float().unsqueeze(0), "specific"
    else:
        target, mode = gain, "generic"
    whole = torch.arange(0, n_frames, 2)               # whole frames, joined circularly (see resynthesis)
    generator = torch.Generator().manual_seed(seed)
    shifts = random_shifts(len(whole), length, generator, hop=length).unsqueeze(0)
    out = model.synthesize(feats, mode, target[:, whole], shifts, frames=whole)[0]
    return join_model_frames(out.cpu(), fs, generator)[:n].numpy().astype(np.float32)
