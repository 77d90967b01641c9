"""What a trained model settles on its training audio (book chapters: *P-VAE synth*, *DDSP training*): a P-VAE's
events made as prominent as the audio's, a bed's lines spread where it pulses alone, its spectrum equalised to
the audio's typical level, and a placed layer set over the bed until it stands out as in the audio.

A P-VAE with a background plays its events at ``1 − s`` of each frame's power over a noise at ``s``, the share
measured between the training audio's events (:meth:`~ddsp_textures.models.PVAEModel.prepare_background`).
Measured on water, fire, applause and the train, that share leaves the trained model's events too faint: the
measured ``events`` feature counts the recording's many small rises, so the model spreads the events' power over
5–13 events/s of one size, and none stands out of the bed where the recording has a few loud ones (water: no
onset against 0.40/s, upper-band peak-to-median 1.9 against 3.1).  :func:`calibrate_background_share` lowers
the share, never below :data:`MIN_SHARE_RATIO` of the measured one, until the model's resynthesis of the
training audio is as prominent as the audio itself: its upper-band peak-to-median or its onset rate reaches the
audio's (:func:`~ddsp_textures.metrics.events.event_statistics`; the rate stops it where the audio's peaks come
from events the grains cannot play, as on the train).  The trainer does this for the best model at the end of
every run (:meth:`~ddsp_textures.models.TextureModel.after_training`; measured before and after in
``benchmarks/README.md``, *The P-VAE's events, as prominent as the recording's*).

A TexDSP's or hybrid's bed decodes nearly the same envelope in every frame, with its power in a few Fourier lines,
and pulses at their period (65–115 ms).  Generation places the reference's events over the bed, which covers the
pulse where the recording has events; where it has none (a forest, a train's rumble) the pulse is heard.
:func:`calibrate_line_spread` spreads the bed's lines (:func:`~ddsp_textures.synths.line_spread.spread_lines`) just
enough that the model's resynthesis of its training audio pulses no more than the audio plus half the
yardstick's margin (a held-out stretch and generation pulse a little more than the training audio's
resynthesis), and only where no layer is placed (measured in ``benchmarks/README.md``, *The bed's pulse, spread where it
is heard*).

Where generation places the reference's layer, its events are the recording's own, but the bed under them is not
the residual they were cut from: a bed trained on the whole recording, events included, spreads their brightness
into a steadier noise (applause: the generated bed's upper-band median 1.9 dB higher than the residual's,
relative to their RMS), and fewer events stand out of it than out of the recording (0.05 onsets/s against 0.55).
:func:`calibrate_layer_gain` raises the layer's events (or lowers them, where they stand out more), within
:data:`MIN_LAYER_GAIN_DB` … :data:`MAX_LAYER_GAIN_DB`, until the model's bed of the training audio's residual plus
the layer is as prominent as the audio (the test the share passes); generation, streaming, the export and
resynthesis with a layer play it at that gain (measured in ``benchmarks/README.md``, *The placed layer, as
prominent as the recording's*).

The same bed fills the recording's spectral valleys and empty octaves with noise, and its puffs carry the power,
so matching its long-term power spectrum does not bring them back.  :func:`calibrate_bed_eq` equalises it half
way, in dB, to the *mean log* spectrum of the audio it stands for (its typical level;
:mod:`~ddsp_textures.synths.bed_equalizer`), before the layer's gain is calibrated over it (measured in
``benchmarks/README.md``, *The bed's typical level*).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ddsp_textures.dsp.framing import as_signal, join_model_frames, random_shifts, unit_rms, zscore
from ddsp_textures.metrics.events import EventStatistics, event_statistics
from ddsp_textures.metrics.mel import mel_frechet_distance
from ddsp_textures.metrics.yardstick import TARGETS
from ddsp_textures.synths.analysis import transient_choice
from ddsp_textures.synths.bed_equalizer import SWING_DB, log_spectrum_gains
from ddsp_textures.synths.line_spread import SPREAD_RATIOS
from ddsp_textures.synths.transients import Transients, analyze_transients, detector, synthesize_transients

CALIBRATION_SECONDS = 20.0   # of the training audio, resynthesised per trial share
MIN_SHARE_RATIO = 0.5        # the share is lowered to at least this fraction of the measured one
CALIBRATION_STEPS = 5        # bisection steps: the share to within 1.6 % of the measured one
PULSE_SECONDS = 60.0         # of the training audio, resynthesised per trial line spread
# Spread where the resynthesis pulses more than the audio + PULSE_HEADROOM, and calibrate to it: half the
# yardstick's margin, as a held-out stretch and generation can pulse more than this resynthesis
# (benchmarks/README.md, *The bed's pulse*).
PULSE_HEADROOM = TARGETS["periodicity_margin"] / 2
MAX_LAYER_GAIN_DB = 6.0      # the most a placed layer's events are raised over the bed
MIN_LAYER_GAIN_DB = -12.0    # the most a placed layer's events are lowered under the bed's level
MAX_EQ_DB = 12.0             # the most the bed's equaliser lifts or cuts
# Half way, in dB, from the bed's mean log spectrum to the audio's: all the way took the log-mel distance lower
# but TexStat's further (applause, the train), half way keeps most of the one without the other; all the way
# where the audio's level swings, if that brings the bed closer (benchmarks/README.md, *The bed's typical level*).
EQ_STRENGTH = 0.5


def _excerpt(model: torch.nn.Module, reference: np.ndarray | torch.Tensor, seconds: float) -> torch.Tensor:
    """Whole frames of ``reference`` (at most ``seconds``, at least one frame) as ``(F, L)``."""
    x = as_signal(reference, "the calibration audio")
    length = model.frame_size
    count = min(x.shape[0], int(seconds * model.fs)) // length
    if count < 1:
        raise ValueError(f"calibration needs at least one frame ({length} samples) of audio, got {x.shape[0]}")
    return x[: count * length].reshape(count, length)


def resynthesized_events(model: torch.nn.Module, frames: torch.Tensor, share: float, seed: int = 0
                         ) -> EventStatistics:
    """Event statistics of the model's resynthesis of consecutive ``frames (F, L)``
    (:meth:`~ddsp_textures.models.PVAEModel.resynthesize_frames`, as ``resynthesize`` plays them) with the
    background at ``share``; the model's share is restored."""
    measured = float(model.background_share)
    try:
        model.background_share.fill_(share)
        y = model.resynthesize_frames(frames, torch.Generator().manual_seed(seed))
    finally:
        model.background_share.fill_(measured)
    return event_statistics(y[: frames.numel()].cpu().numpy(), model.fs)


def _too_prominent(events: EventStatistics, target: EventStatistics) -> bool:
    """More prominent than the audio on every count: its peak-to-median above the audio's, and its onset rate too
    (where the audio has onsets)."""
    return events.peak_to_median > target.peak_to_median and (target.onset_rate == 0
                                                               or events.onset_rate > target.onset_rate)


def _prominent(events: EventStatistics, target: EventStatistics) -> bool:
    """As prominent as the audio: its peak-to-median reached, or its onset rate (where it has onsets)."""
    return events.peak_to_median >= target.peak_to_median or (target.onset_rate > 0
                                                                 and events.onset_rate >= target.onset_rate)


@torch.no_grad()
def calibrate_background_share(model: torch.nn.Module, reference: np.ndarray | torch.Tensor,
                               seconds: float = CALIBRATION_SECONDS, seed: int = 0,
                               steps: int = CALIBRATION_STEPS) -> float:
    """Set (and return) the largest background share, between :data:`MIN_SHARE_RATIO` × and 1 × the model's
    own, at which its resynthesis of the first ``seconds`` of ``reference`` has at least their upper-band
    peak-to-median or their onset rate; the model's share where it already has, or where the audio has no finite
    prominence.  Bisection with one seed for every trial, so the trials differ by the share alone.

    Shape:
        ``reference (n,)``, mono audio at the model's sample rate, ``n ≥ L``.
    """
    if not getattr(model, "has_background", False):
        raise ValueError("only a P-VAE with a background (pvae_background: true) has a share to calibrate")
    if seconds <= 0 or steps < 1:
        raise ValueError(f"seconds must be > 0 and steps >= 1, got {seconds} and {steps}")
    frames = _excerpt(model, reference, seconds)
    target = event_statistics(frames.reshape(-1).numpy(), model.fs)
    measured = float(model.background_share)
    if not math.isfinite(target.peak_to_median) or _prominent(
            resynthesized_events(model, frames, measured, seed), target):
        return measured
    low, high = MIN_SHARE_RATIO * measured, measured           # prominent enough at low (or as close as allowed)
    for _ in range(steps):
        middle = 0.5 * (low + high)
        if _prominent(resynthesized_events(model, frames, middle, seed), target):
            low = middle
        else:
            high = middle
    model.background_share.fill_(low)
    return low


@torch.no_grad()
def bed_periodicity(model: torch.nn.Module, reference: np.ndarray | torch.Tensor, seconds: float = PULSE_SECONDS,
                    seed: int = 0) -> float:
    """Envelope periodicity (:func:`~ddsp_textures.metrics.events.event_statistics`) of a model's resynthesis of
    the first ``seconds`` of ``reference`` without a transient layer: consecutive whole frames, each rendered from
    its own features at its own loudness (:meth:`~ddsp_textures.models.TextureModel.render_frames`), carriers
    shifted, frames rotated and joined as resynthesis joins them.

    Shape:
        ``reference (n,)``, mono audio at the model's sample rate, ``n ≥ L``.
    """
    return _bed_periodicity_of(model, _excerpt(model, reference, seconds), seed)()


def _bed_periodicity_of(model: torch.nn.Module, frames: torch.Tensor, seed: int) -> Callable[[], float]:
    """:func:`bed_periodicity` of ``frames (F, L)`` as a function of the model's current line spread: the
    features, loudness and carrier shifts (which the spread does not change) are computed once, and every call
    renders and measures with the generator where it stood after the shifts, as one call of its own would."""
    render = _bed_render(model, frames, seed)
    return lambda: event_statistics(render().numpy().astype(np.float64), model.fs).periodicity


def _bed_render(model: torch.nn.Module, frames: torch.Tensor, seed: int) -> Callable[[], torch.Tensor]:
    """The model's bed of consecutive ``frames (F, L)`` as generation plays it, as a function of the model's
    current line spread: each frame rendered from its own features at its own loudness
    (:meth:`~ddsp_textures.models.TextureModel.render_frames`), carriers shifted, frames rotated and joined
    (``(F · L,)``)."""
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    features = [f.unsqueeze(0) for f in model.features(zscore(frames).to(device))]
    target = model.frame_loudness(frames.to(device)).unsqueeze(0)
    shifts = random_shifts(frames.shape[0], model.frame_size, generator, hop=model.frame_size).unsqueeze(0)
    after_shifts = generator.get_state()

    def render() -> torch.Tensor:
        generator.set_state(after_shifts)
        out = model.render_frames(features, target, shifts, torch.arange(frames.shape[0]), generator)[0]
        return join_model_frames(out.cpu(), model.fs, generator)[: frames.numel()]

    return render


@torch.no_grad()
def calibrate_line_spread(model: torch.nn.Module, reference: np.ndarray | torch.Tensor,
                          seconds: float = PULSE_SECONDS, seed: int = 0) -> str | None:
    """Where the model's resynthesis of ``reference`` (:func:`bed_periodicity`) pulses more than the reference's
    periodicity plus :data:`PULSE_HEADROOM` (half the yardstick's margin), set the narrowest line spread of
    :data:`~ddsp_textures.synths.line_spread.SPREAD_RATIOS` that brings it within that headroom of the
    reference's (where none does, the one that pulses least, and none where none takes it halfway there); none
    where generation from ``reference`` places a transient layer over the bed
    (:func:`~ddsp_textures.synths.analysis.transient_choice` keeps one).  Returns a one-line report of a change,
    else ``None``.

    Shape:
        ``reference (n,)``, mono audio at the model's sample rate, ``n ≥ L``.
    """
    frames = _excerpt(model, reference, seconds)
    unit = unit_rms(reference, "the calibration audio")                  # as generation presents it
    was_training = model.training
    model.eval()
    try:
        model.set_line_spread(1.0)
        if transient_choice(unit, model.bank, 2 * model.n_coeffs, seed):
            return None                         # generation from this audio places its events over the bed
        own = event_statistics(frames.reshape(-1).numpy().astype(np.float64), model.fs).periodicity
        measure = _bed_periodicity_of(model, frames, seed)
        before = measure()
        limit = own + PULSE_HEADROOM
        if not limit < before:
            return None                                          # within the headroom already
        pulses: dict[float, float] = {}
        for ratio in SPREAD_RATIOS:
            model.set_line_spread(ratio)
            pulses[ratio] = measure()
            if pulses[ratio] <= limit:
                break
        ratio = min(pulses, key=pulses.__getitem__)   # the one within the headroom, else the least pulsing
        if pulses[ratio] > (before + limit) / 2:       # not halfway there: a pulse that is not in the lines
            model.set_line_spread(1.0)
            return None
        model.set_line_spread(ratio)
        return (f"bed's envelope lines spread x{ratio:g}: its pulse {before:.2f} -> {pulses[ratio]:.2f} "
                f"(the training audio's {own:.2f})")
    finally:
        model.train(was_training)


@torch.no_grad()
def calibrate_layer_gain(model: torch.nn.Module, reference: np.ndarray | torch.Tensor,
                         seconds: float = PULSE_SECONDS, seed: int = 0, steps: int = CALIBRATION_STEPS
                         ) -> str | None:
    """Where generation from ``reference`` places a transient layer over the model's bed
    (:func:`~ddsp_textures.synths.analysis.transient_choice` keeps one), set the least gain of the layer's
    events, between :data:`MIN_LAYER_GAIN_DB` and :data:`MAX_LAYER_GAIN_DB` dB, at which the model's bed of the
    first ``seconds`` of the residual plus the layer at that gain is as prominent as the audio (its upper-band
    peak-to-median or its onset rate reached, as :func:`calibrate_background_share` asks of a P-VAE) where it is
    less prominent as recorded; where it stands out more on every count (both above the audio's), the highest
    gain at which it no longer does; 0 dB otherwise, or where the audio has no finite prominence.  Bisection in
    dB; the bed is rendered once, with one seed.  Returns a one-line report of a change, else ``None``.

    Shape:
        ``reference (n,)``, mono audio at the model's sample rate, ``n ≥ L``.
    """
    was_training = model.training
    model.eval()
    try:
        model.set_layer_gain(0.0)
        name, unit, residual, layer = _bed_and_target(model, reference, seconds, seed)
        if not name:
            return None                                          # no layer: nothing to make prominent
        bed = _bed_render(model, residual.reshape(-1, model.frame_size), seed)().double().numpy()
        events = synthesize_transients(layer, bed.shape[0]).numpy()
        target = event_statistics(unit.numpy().astype(np.float64), model.fs)

        def stats(gain_db: float) -> EventStatistics:
            return event_statistics(bed + 10 ** (gain_db / 20) * events, model.fs)

        if not math.isfinite(target.peak_to_median):
            return None
        as_recorded = stats(0.0)
        if _too_prominent(as_recorded, target):      # stands out more on every count: lowered
            gain, capped = _bisect(lambda g: not _too_prominent(stats(g), target), MIN_LAYER_GAIN_DB, 0.0, steps)
        elif not _prominent(as_recorded, target):    # stands out less: raised
            gain, capped = _bisect(lambda g: _prominent(stats(g), target), MAX_LAYER_GAIN_DB, 0.0, steps)
        else:
            return None
        if abs(gain) < 0.05:
            return None
        model.set_layer_gain(gain)
        reached = "as prominent as in the training audio" if not capped else \
            "the most allowed: " + ("the audio's stand out more" if gain > 0 else "they still stand out more")
        return f"the reference's {name} {'raised' if gain > 0 else 'lowered'} {gain:+.1f} dB over the bed, {reached}"
    finally:
        model.train(was_training)


def _bisect(passes: Callable[[float], bool], good: float, bad: float, steps: int) -> tuple[float, bool]:
    """The gain nearest ``bad`` at which ``passes``, between ``good`` (where it is expected to) and ``bad`` (where
    it does not), to ``|good − bad| / 2**steps``; ``(good, True)`` where it does not pass even there."""
    if not passes(good):
        return good, True
    for _ in range(steps):
        middle = 0.5 * (good + bad)
        if passes(middle):
            good = middle
        else:
            bad = middle
    return good, False


def _bed_and_target(model: torch.nn.Module, reference: np.ndarray | torch.Tensor, seconds: float, seed: int
                    ) -> tuple[str | bool, torch.Tensor, torch.Tensor, Transients | None]:
    """What the model's bed stands for in generation from ``reference``: the layer's detector (or ``False``), the
    first ``seconds`` of the audio at unit RMS ``(F·L,)``, the audio the bed replaces (the residual the layer
    leaves, else the audio) and the layer (or ``None``)."""
    frames = _excerpt(model, reference, seconds)
    unit = unit_rms(frames.reshape(-1), "the calibration audio")          # as generation presents it
    name = transient_choice(unit_rms(reference, "the calibration audio"), model.bank, 2 * model.n_coeffs, seed)
    if not name:
        return False, unit, unit, None
    layer, residual = analyze_transients(unit.double(), model.fs, generator=torch.Generator().manual_seed(0),
                                         **detector(name))
    return name, unit, residual.float(), layer


@torch.no_grad()
def calibrate_bed_eq(model: torch.nn.Module, reference: np.ndarray | torch.Tensor, seconds: float = PULSE_SECONDS,
                     seed: int = 0, swing_db: float | None = SWING_DB) -> str | None:
    """Equalise the model's bed so that its mean log spectrum moves :data:`EQ_STRENGTH` of the way (in dB) to
    that of the audio it stands for in generation (the residual the reference's layer leaves, else the audio
    itself; :func:`~ddsp_textures.synths.bed_equalizer.log_spectrum_gains`, within ±:data:`MAX_EQ_DB`, the bed's
    power kept), or all the way where that audio's log power swings between near-silence and events (spread
    above ``swing_db``, default :data:`~ddsp_textures.synths.bed_equalizer.SWING_DB`; ``None``: nowhere),
    measured on the model's bed of the first ``seconds`` of ``reference``.  Of no equaliser, half way, and half
    way with the swinging bins all the way, the one that brings that bed closest to the audio in log-mel Fréchet
    distance is kept.  Returns a one-line report of a change, else ``None``.

    Shape:
        ``reference (n,)``, mono audio at the model's sample rate, ``n ≥ L``.
    """
    was_training = model.training
    model.eval()
    try:
        model.set_bed_eq(None)
        _, _, target, _ = _bed_and_target(model, reference, seconds, seed)
        frames = target.reshape(-1, model.frame_size)
        render = _bed_render(model, frames, seed)
        before = render()
        fs = float(model.fs)
        best, best_distance = None, mel_frechet_distance(target.numpy(), before.numpy(), fs)
        flat_distance, tried = best_distance, []
        for swing in (None, swing_db):
            gains = log_spectrum_gains(target, before, fs, model.frame_size, MAX_EQ_DB, strength=EQ_STRENGTH,
                                       swing_db=swing)
            if any(torch.equal(gains, g) for g in tried):          # no bin swings: the same equaliser
                continue
            tried.append(gains)
            model.set_bed_eq(gains)
            distance = mel_frechet_distance(target.numpy(), render().numpy(), fs)
            if distance < best_distance:
                best, best_distance, swung = gains, distance, swing is not None
        model.set_bed_eq(best)
        if best is None:
            return None
        db = 20 * torch.log10(model.bed_eq)
        how = "half way, all the way where its level swings" if swung else "half way"
        return (f"bed equalised to the training audio's mean log spectrum ({how}; {float(db.min()):+.1f} to "
                f"{float(db.max()):+.1f} dB): its log-mel distance {flat_distance:.0f} -> {best_distance:.0f}")
    finally:
        model.train(was_training)
