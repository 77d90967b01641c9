"""Generating new texture: a trained model (TexDSP, P-VAE or hybrid) generates any length of texture from
feature curves (book chapter: *DDSP training*, section *Generating new texture*).

The model's encoder inputs are set frame by frame instead of being measured on an input recording.  They come
from a *reference* recording (by default the run's training audio):

* ``variation="bootstrap"`` (the default): the reference's own feature trajectory, cut in blocks of
  :data:`BLOCK_FRAMES` consecutive frames that are drawn at random and strung together (a block bootstrap), with
  each frame's loudness — so the generated frames vary as the recording's do, for as long as asked, and never
  repeat it as a whole;
* ``variation="mean"``: every frame gets the reference's mean features and mean band loudness (how generation
  worked before: one average frame, repeated — kept to hear and measure the difference).

The curves steer the result —

* ``loudness`` (dB, relative to the reference): added to ``energy_bands`` and applied as output gain;
* ``centroid`` (Hz): the spectral centroid, converted to the ``centroid`` feature's ERB-number scale (the
  bootstrapped trajectory is shifted so that its mean follows the curve);
* ``rate`` (events per second): the ``rate`` feature (soft onset count) and/or the ``events`` feature (scaled
  so that its mean follows the curve), and the rate of the transient layer's events.

A curve is a number (constant) or breakpoints ``"t0:v0,t1:v1,..."`` (seconds: value), linearly interpolated
and held constant outside the given times.  TexDSP and hybrid models synthesise whole frames with random carrier
shifts, joined with short circular crossfades as in a resynthesis (:mod:`ddsp_textures.inference.resynthesis`); P-VAE
and hybrid models draw hard Poisson events from their learned rate.

``transients`` (models with a TexEnv bed — TexDSP and hybrid —, default ``"auto"``: the detector that the DSP
resynthesis of the reference keeps, or none, :func:`reference_layer`): the reference's clicks are taken out first
(:func:`~ddsp_textures.synths.transients.analyze_transients`); the model generates the bed (and a hybrid its own
events) from the residual's features and loudness, and the layer's atoms — each event with its own gain and band
spectrum — are placed anew, at times whose intervals are drawn from the reference's own inter-onset intervals (so
the events come as often and as irregularly as in the recording) and scaled by the ``rate`` curve, at the gain over
the bed that training calibrated (:func:`~ddsp_textures.models.calibration.calibrate_layer_gain`).  A TexEnv
envelope cannot render a 0.2-ms crackle (it comes out as a dense train of soft puffs, and a bed decodes the same
envelope in every frame, which flutters); the layer can, and covers the flutter.  A hybrid's own events are silent
where its event gain learned to be (water, fire, applause), so it takes the layer too (``benchmarks/README.md``:
*Results*).  A P-VAE has no bed and takes none.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from ddsp_textures.dsp.filterbanks import erb_number
from ddsp_textures.dsp.framing import (
    as_signal,
    frame_signal,
    join_model_frames,
    random_shifts,
    rms,
    unit_rms,
    wrap_pad,
    zscore,
)
from ddsp_textures.models import HybridModel, PVAEModel, TexDSP, TextureModel
from ddsp_textures.stats.features import EVENTS_SCALE, RATE_SCALE
from ddsp_textures.synths.transients import Transients

if TYPE_CHECKING:
    from ddsp_textures.inference.streaming import StreamCore

Curve = float | int | str | Sequence[tuple[float, float]]
GenerativeModel = TexDSP | PVAEModel | HybridModel
MAX_SECONDS = 3600.0
NO_BED_FOR_TRANSIENTS = ("transients are placed over a TexEnv bed (TexDSP and hybrid models); a P-VAE generates "
                         "its own events only")


def transient_layer(model: TextureModel, transients: str | bool | None, variation: str = "bootstrap"
                    ) -> str | bool | None:
    """The transient layer a generation, stream or resynthesis of ``model`` takes: ``"default"`` is ``"auto"``
    for a model with a TexEnv bed (TexDSP, hybrid) with ``variation="bootstrap"``, else none; any other value as
    given.  A layer for a model without a bed (a P-VAE) is a ``ValueError``."""
    if transients == "default":
        transients = "auto" if getattr(model, "has_carriers", False) and variation == "bootstrap" else None
    if transients and not getattr(model, "has_carriers", False):
        raise ValueError(NO_BED_FOR_TRANSIENTS)
    return transients


def reference_layer(model: TextureModel, transients: str | bool | None,
                    reference: np.ndarray | torch.Tensor) -> str | None:
    """The detector whose layer a bootstrapped generation from ``reference`` places (``None``: no layer).
    ``"auto"``: the one the DSP resynthesis of the reference, scaled to unit RMS, keeps
    (:func:`~ddsp_textures.synths.analysis.transient_choice`),
    none where no layer brings it closer to the recording: on a train's rumble the clicks detector cuts out
    clatter that the bed then misses, and placed anew it took the generation further from the recording
    (``benchmarks/README.md``, *Which layer generation places*)."""
    transients = transient_layer(model, transients)
    if transients == "auto":
        from ddsp_textures.synths.analysis import transient_choice

        transients = transient_choice(_unit_rms(reference), model.bank, 2 * model.n_coeffs)
    return transients or None


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


LOUDNESS_RANGE_DB = (-120.0, 60.0)


def clamped_curve(curve: Curve, bounds: tuple[float, float], name: str, unit: str) -> list[tuple[float, float]]:
    """The breakpoints of ``curve`` with values clamped to ``bounds``, warning once if any was outside.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     clamped_curve("0:0,5:1000", (-120.0, 60.0), "loudness", "dB"), len(caught)
    ([(0.0, 0.0), (5.0, 60.0)], 1)
    """
    points = parse_curve(curve, name)
    low, high = bounds
    if any(not low <= v <= high for _, v in points):
        warnings.warn(f"{name} values outside [{low:g}, {high:g}] {unit} are clamped to that range", stacklevel=3)
    return [(t, min(max(v, low), high)) for t, v in points]


def curve_values(curve: Curve, times: np.ndarray, name: str = "curve") -> np.ndarray:
    """The curve sampled at ``times`` (seconds)."""
    points = parse_curve(curve, name)
    return np.interp(times, [t for t, _ in points], [v for _, v in points])



LOOP_FADE_S = 0.25         # crossfade of a seamless loop (at most a quarter of its length)
BLOCK_FRAMES = 8            # half-overlapping frames per bootstrap block (≈ 1.5 s at L = 16384, 44.1 kHz)
Variation = Literal["bootstrap", "mean"]


def bootstrap_indices(n_reference: int, n_frames: int, generator: torch.Generator,
                      block: int = BLOCK_FRAMES) -> torch.Tensor:
    """Indices ``(n_frames,)`` into ``n_reference`` frames: runs of ``block`` consecutive indices with random
    starts (the last run cut short), a stationary block bootstrap.

    >>> bootstrap_indices(10, 7, torch.Generator().manual_seed(0), block=3).tolist()
    [4, 5, 6, 7, 8, 9, 5]
    """
    block = max(1, min(block, n_reference))
    starts = torch.randint(0, n_reference - block + 1, (-(-n_frames // block),), generator=generator)
    return (starts.unsqueeze(-1) + torch.arange(block)).reshape(-1)[:n_frames]


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _reference_frames(model: GenerativeModel, reference: np.ndarray | torch.Tensor, hop: int | None = None
                      ) -> torch.Tensor:
    """Frames ``(F, L)`` of a reference recording (hop ``L/2`` unless given), not normalised, on the model's
    device."""
    length = model.frame_size
    x = torch.as_tensor(np.asarray(reference, dtype=np.float32)).reshape(-1)
    if x.shape[0] < length:
        x = wrap_pad(x, length)
    return frame_signal(x, length, length // 2 if hop is None else hop).to(_model_device(model))


def _mean_features(model: GenerativeModel, frames: torch.Tensor) -> list[torch.Tensor]:
    return [f.mean(0).cpu() for f in model.features(zscore(frames))]


@torch.no_grad()
def reference_features(model: GenerativeModel, reference: np.ndarray | torch.Tensor) -> list[torch.Tensor]:
    """Mean of each encoder input over the frames of a reference recording: one ``(dim,)`` tensor each."""
    return _mean_features(model, _reference_frames(model, reference))


def _mean_log_loudness(model: TexDSP | HybridModel, frames: torch.Tensor) -> torch.Tensor:
    """``log10`` of the model's :meth:`~ddsp_textures.models.TextureModel.frame_loudness` of the z-scored frames
    averaged over them (``(N,)`` or ``(N + 2,)``), the level ``variation="mean"`` gives each band; a scalar 0 for
    frame-RMS models (a z-scored frame's RMS)."""
    if not model.band_target:
        return torch.zeros((), device=frames.device)
    return torch.log10(model.frame_loudness(zscore(frames)).clamp_min(1e-12)).mean(0)


def _frame_grid(model: TexDSP | HybridModel, n: int, loudness: Curve
                ) -> tuple[int, np.ndarray, np.ndarray, torch.Tensor]:
    """The output's half-overlap frames: their number, centres (s), the loudness curve there (dB), and the
    indices of the whole frames (the even ones) that tile the output."""
    fs, length = int(model.fs), model.frame_size
    n_frames = 2 * max(1, -(-n // length)) - 1
    times = (np.arange(n_frames) * (length // 2) + length / 2) / fs
    return n_frames, times, curve_values(loudness, times, "loudness"), torch.arange(0, n_frames, 2)


def _render(model: TexDSP | HybridModel, feats: list[torch.Tensor], target: torch.Tensor, shifts: torch.Tensor,
            whole: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The whole frames ``(W, L)`` at their loudness ``target (1, W, ·)`` (of the kind :func:`_loudness`
    measures), joined into ``(W·L,)`` as model inference joins them."""
    out = model.render_frames(feats, target, shifts, whole, generator)[0]
    return join_model_frames(out.cpu(), int(model.fs), generator)


def _check(model: GenerativeModel, seconds: float, centroid: Curve | None, rate: Curve | None,
           variation: str) -> None:
    if not isinstance(model, TextureModel):
        raise ValueError(f"generation needs a TexDSP, P-VAE or hybrid model, got {type(model).__name__}")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise ValueError(f"seconds must be a number in (0, {MAX_SECONDS:g}], got {seconds!r}")
    if variation not in ("bootstrap", "mean"):
        raise ValueError(f"variation must be 'bootstrap' or 'mean', got {variation!r}")
    names = model.feature_names
    if centroid is not None and "centroid" not in names:
        raise ValueError(f"this model has no 'centroid' input (its features: {', '.join(names)})")


def _steer(model: GenerativeModel, feats: list[torch.Tensor], times: np.ndarray, gain_db: np.ndarray,
           centroid: Curve | None, rate: Curve | None, shift_to_curve: bool) -> list[torch.Tensor]:
    """Apply the curves to per-frame features ``(F, dim)``: loudness added to ``energy_bands``; centroid and
    rate set (``shift_to_curve=False``) or moved so that their mean follows the curve (``True``)."""
    fs = float(model.fs)
    out = []
    for name, values in zip(model.feature_names, feats, strict=True):
        values = values.clone()
        if name == "energy_bands":
            values += torch.tensor(gain_db / 20, dtype=values.dtype, device=values.device).unsqueeze(-1)
        elif name == "centroid" and centroid is not None:
            hz = np.clip(curve_values(centroid, times, "centroid"), 0, fs / 2)
            goal = (erb_number(torch.tensor(hz)) / erb_number(fs / 2)).to(values.dtype).to(values.device)
            values[:, 0] = values[:, 0] - values[:, 0].mean() + goal if shift_to_curve else goal
        elif name in ("rate", "events") and rate is not None:
            per_second = np.clip(curve_values(rate, times, "rate"), 0, None)
            scale = RATE_SCALE if name == "rate" else EVENTS_SCALE
            goal = torch.tensor(per_second / scale, dtype=values.dtype, device=values.device)
            mean = float(values[:, 0].mean())
            values[:, 0] = values[:, 0] * (goal / mean) if shift_to_curve and mean > 1e-6 else goal
        out.append(values)
    return out


@torch.no_grad()
def generate(model: GenerativeModel, seconds: float, reference: np.ndarray | torch.Tensor, loudness: Curve = 0.0,
             centroid: Curve | None = None, rate: Curve | None = None, seed: int = 0,
             variation: Variation = "bootstrap", transients: str | bool | None = "default", loop: bool = False
             ) -> np.ndarray:
    """Generate ``seconds`` of texture whose features follow the given curves (see the module docstring).

    ``loop``: the end joins the start without a click — ``seconds`` plus :data:`LOOP_FADE_S` are generated and
    the extra tail is crossfaded onto the head (:func:`loop_join`), for a sample that repeats seamlessly.

    ``transients``: ``"default"`` (``"auto"`` for a model with a TexEnv bed — TexDSP, hybrid — with
    ``variation="bootstrap"``, else none: a P-VAE draws its own events only), ``"auto"`` (the layer the DSP
    resynthesis of the reference keeps, or none: :func:`reference_layer`), a detector name of
    :data:`~ddsp_textures.synths.transients.DETECTORS`, or ``None``/``False``.
    Returns float32 audio at the model's sample rate, at the level of the reference scaled to unit RMS
    (``variation="mean"``: level 0 dB is that of a z-scored, unit-RMS, frame).

    Shape:
        returns ``(round(seconds · fs),)``.
    """
    _check(model, seconds, centroid, rate, variation)
    reference = as_signal(reference, "the reference recording")
    loudness = clamped_curve(loudness, LOUDNESS_RANGE_DB, "loudness", "dB")
    if loop:
        n = int(round(seconds * int(model.fs)))
        fade = max(1, min(int(LOOP_FADE_S * model.fs), n // 4))
        longer = generate(model, (n + fade) / int(model.fs), reference, loudness, centroid, rate, seed, variation,
                          transients)
        return loop_join(longer, fade)
    transients = transient_layer(model, transients, variation)
    if transients and variation == "mean":
        raise ValueError("transients need variation='bootstrap'")
    if transients == "auto":
        transients = reference_layer(model, transients, reference)
    names = model.feature_names
    if rate is not None and not {"rate", "events"} & set(names) and not transients:
        raise ValueError(f"this model has no 'rate' or 'events' input (its features: {', '.join(names)}), and no "
                         f"transient layer whose events a rate could steer")
    generator = torch.Generator().manual_seed(seed)
    n = int(round(seconds * int(model.fs)))
    if variation == "bootstrap":
        return _generate_stream(model, n, reference, loudness, centroid, rate, transients, seed)
    if model.steps_per_frame == 1:                   # every frame synthesised: the P-VAE's frames
        return _generate_pvae_mean(model, n, reference, loudness, centroid, rate, generator)
    return _generate_mean(model, n, reference, loudness, centroid, rate, generator)


def _unit_rms(reference: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A checked reference recording scaled to unit RMS (:func:`~ddsp_textures.dsp.framing.unit_rms`)."""
    return unit_rms(reference, "the reference recording")


def apply_curves(core: StreamCore, loudness: Curve = 0.0, centroid: Curve | None = None, rate: Curve | None = None,
                 morph: Curve | None = None) -> None:
    """Give a :class:`~ddsp_textures.inference.streaming.StreamCore` its controls as curves (seconds: value) — known in
    advance, so with no latency and no ramp.  Loudness is clamped to :data:`LOUDNESS_RANGE_DB` with a warning,
    the centroid to [20 Hz, fs/2], the rate to >= 0 and the morph to [0, 1]."""
    from ddsp_textures.inference.streaming import MIN_CENTROID_HZ

    fs = float(core.sample_rate)
    points = clamped_curve(loudness, LOUDNESS_RANGE_DB, "loudness", "dB")
    core.set_curve(0, [t * fs for t, _ in points], [v for _, v in points])
    if centroid is not None:
        points = parse_curve(centroid, "centroid")
        scale = float(erb_number(fs / 2))
        core.set_curve(1, [t * fs for t, _ in points],
                       [float(erb_number(min(max(v, MIN_CENTROID_HZ), fs / 2))) / scale for _, v in points])
    if rate is not None:
        points = parse_curve(rate, "rate")
        core.set_curve(2, [t * fs for t, _ in points], [max(v, 0.0) for _, v in points])
    if morph is not None:
        points = parse_curve(morph, "morph")
        core.set_curve(3, [t * fs for t, _ in points], [min(max(v, 0.0), 1.0) for _, v in points])


def _generate_stream(model: GenerativeModel, n: int, reference: np.ndarray | torch.Tensor, loudness: Curve,
                     centroid: Curve | None, rate: Curve | None, transients: str | bool | None, seed: int
                     ) -> np.ndarray:
    """Bootstrapped generation: a :class:`~ddsp_textures.inference.streaming.StreamCore` with the curves as its control
    timelines, read in one piece."""
    from ddsp_textures.inference.streaming import MAX_BLOCK, stream_core

    core = stream_core(model, reference, transients)
    core.reset(seed)
    apply_curves(core, loudness, centroid, rate)
    parts = [core.read(min(MAX_BLOCK, n - done)) for done in range(0, n, MAX_BLOCK)]
    return torch.cat(parts).numpy().astype(np.float32)


def loop_join(y: np.ndarray, fade: int) -> np.ndarray:
    """``y`` (``n + fade`` samples) folded into a seamless loop of ``n``: its last ``fade`` samples are
    crossfaded (equal power: a sine/cosine pair, right for uncorrelated noise) onto its first ``fade``, so the
    loop's last sample is followed, on repeat, by what followed it in ``y``.

    >>> y = np.arange(10.0)
    >>> [round(float(v), 3) for v in loop_join(y, 2)]     # the tail (8, 9) fades into the head (0, 1)
    [8.0, 7.071, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    """
    n = len(y) - fade
    if fade < 1 or n < fade:
        raise ValueError(f"a loop needs 1 <= fade <= the loop's length, got fade {fade} for {len(y)} samples")
    ramp = np.sin(0.5 * np.pi * np.arange(fade) / fade)
    out = np.array(y[:n], dtype=np.float32, copy=True)
    out[:fade] = y[:fade] * ramp + y[n:] * np.cos(0.5 * np.pi * np.arange(fade) / fade)
    return out


def replace_events(layer: Transients, n: int, generator: torch.Generator, loudness: Curve = 0.0,
                   rate: Curve | None = None) -> Transients:
    """The events of ``layer`` placed anew over ``n`` samples: each interval between events is one of the
    layer's own inter-onset intervals drawn at random (a renewal process with the recording's interval
    distribution; a Poisson process at the layer's rate where it has fewer than 3 events), shortened by
    ``rate / (the layer's rate)`` where a ``rate`` curve is given; each event is one of the layer's events
    (atom, gain, band gains) drawn at random, its gain scaled by the ``loudness`` curve (dB).

    >>> layer = Transients(torch.ones(3, 5), torch.tensor([100, 300, 500, 700]), torch.tensor([0, 1, 2, 0]),
    ...                    torch.ones(4), 800, fs=1000.0)
    >>> new = replace_events(layer, 4000, torch.Generator().manual_seed(0))
    >>> new.length, sorted(set(torch.diff(new.times).tolist()))    # every interval is one of the layer's: 200
    (4000, [200])
    """
    fs = float(layer.fs)
    count = layer.times.numel()
    if count == 0:
        return Transients(layer.atoms, layer.times.clone(), layer.index.clone(), layer.gains.clone(), n,
                          layer.band_gains, layer.fs)
    own_rate = layer.rate()
    intervals = torch.diff(layer.times).double()
    if intervals.numel() < 2:                              # too few events: a Poisson process at their rate
        intervals = -torch.log1p(-torch.rand(256, generator=generator, dtype=torch.float64)) * fs / own_rate
    times, t = [], float(intervals[torch.randint(0, intervals.numel(), (1,), generator=generator)]) * float(
        torch.rand(1, generator=generator, dtype=torch.float64))           # a random phase for the first one
    half = layer.half_width
    while t < n - half:
        times.append(t)
        step = float(intervals[torch.randint(0, intervals.numel(), (1,), generator=generator)])
        if rate is not None:
            wanted = float(curve_values(rate, np.array([t / fs]), "rate")[0])
            step = step * own_rate / wanted if wanted > 0 else math.inf
        t += max(step, 1.0)
    at = torch.tensor(times, dtype=torch.float64).round().long().clamp(half, max(half, n - half - 1))
    pick = torch.randint(0, count, (at.numel(),), generator=generator)
    gain_db = curve_values(loudness, at.numpy() / fs, "loudness") if at.numel() else np.zeros(0)
    gains = layer.gains[pick] * torch.tensor(10 ** (gain_db / 20), dtype=layer.gains.dtype)
    band_gains = None if layer.band_gains is None else layer.band_gains[pick]
    return Transients(layer.atoms, at, layer.index[pick], gains, n, band_gains, layer.fs)


def _generate_mean(model: TexDSP | HybridModel, n: int, reference: np.ndarray | torch.Tensor, loudness: Curve,
                   centroid: Curve | None, rate: Curve | None, generator: torch.Generator) -> np.ndarray:
    """``variation="mean"``: every frame gets the reference's mean features and mean band loudness."""
    n_frames, times, gain_db, whole = _frame_grid(model, n, loudness)
    frames = _reference_frames(model, reference)
    base = [f.expand(n_frames, f.shape[0]) for f in _mean_features(model, frames)]
    feats = [f.unsqueeze(0).to(frames.device) for f in
             _steer(model, base, times, gain_db, centroid, rate, shift_to_curve=False)]
    gain = torch.tensor(gain_db / 20, device=frames.device)
    mean_log = _mean_log_loudness(model, frames)
    target = (10 ** (mean_log + (gain[:, None] if mean_log.dim() else gain))).float().unsqueeze(0)[:, whole]
    shifts = random_shifts(len(whole), model.frame_size, generator, hop=model.frame_size).unsqueeze(0)
    return _render(model, feats, target, shifts, whole, generator)[:n].numpy().astype(np.float32)


def _generate_pvae_mean(model: PVAEModel, n: int, reference: np.ndarray | torch.Tensor, loudness: Curve,
                        centroid: Curve | None, rate: Curve | None, generator: torch.Generator) -> np.ndarray:
    """P-VAE, ``variation="mean"``: consecutive non-overlapping frames with the reference's mean features and
    hard events from the learned rate, grain tails carried across frames
    (:meth:`~ddsp_textures.models.PVAEModel.stream`)."""
    fs, length = int(model.fs), model.frame_size
    n_frames = max(1, -(-n // length))
    times = (np.arange(n_frames) * length + length / 2) / fs
    gain_db = curve_values(loudness, times, "loudness")
    frames = _reference_frames(model, _unit_rms(reference), hop=length)
    feats = [f.expand(n_frames, f.shape[0]).to(frames.device) for f in _mean_features(model, frames)]
    feats = [f.unsqueeze(0) for f in _steer(model, feats, times, gain_db, centroid, rate, shift_to_curve=False)]
    target = rms(frames).mean().expand(n_frames) * torch.tensor(10 ** (gain_db / 20), dtype=torch.float32,
                                                                 device=frames.device)
    return model.stream(feats, target, generator)[:n].cpu().numpy().astype(np.float32)
