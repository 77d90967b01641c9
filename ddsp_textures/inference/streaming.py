"""Play it live: a trained model (TexDSP, P-VAE or hybrid) streams texture block by block, for as long as asked,
with controls that move while it plays (book chapter: *DDSP training*, section *Play it live*).

:class:`StreamCore` does the work, one model frame at a time:

1. the model's encoder inputs come from a *reference* recording's own feature trajectory, in runs of
   :data:`~ddsp_textures.inference.generation.BLOCK_FRAMES` consecutive half-overlap frames with random starts
   (the block bootstrap of :func:`~ddsp_textures.inference.generation.generate`), steered by the controls at the
   frame's centre —
   loudness (dB, added to ``energy_bands``), centroid (Hz, the ``centroid`` input) and rate (events/s, the
   ``rate``/``events`` inputs) — and, with a second reference, interpolated between the two (``morph`` 0…1);
2. the frame renderer (:mod:`~ddsp_textures.inference.frame_renderers`: TexDSP, hybrid, P-VAE) runs the model's
   GRU over the frame's steps with its state carried from the previous frame and synthesises one frame; whole
   TexEnv frames are rotated and joined with short circular crossfades (as
   :func:`~ddsp_textures.dsp.framing.join_model_frames`), P-VAE frames carry their grain tails into the next
   one;
3. TexDSP and hybrid streams place the reference's clicks anew, where its DSP resynthesis keeps a layer
   (:func:`~ddsp_textures.inference.generation.replace_events`: intervals drawn from the reference's own,
   scaled by the rate control);
4. the output is multiplied by the loudness control, sample by sample.


Every frame draws its random numbers from its own generator, seeded with ``(seed, frame index)``: the audio does
not depend on the block size, and offline :func:`~ddsp_textures.inference.generation.generate` is this stream read
in one piece.

**Latency.**  A control set between two blocks reaches the audio exactly :attr:`StreamCore.latency` samples after
the first sample of the next block — the model's frame length, plus half a click atom where the stream has
clicks — and moves there in a linear ramp of :data:`CONTROL_RAMP_S`; nothing before that point changes.
Loudness follows the ramp sample by sample; the model's inputs are read where each frame begins, and the click
rate at each click.  The delay is what lets every frame and every click be synthesised whole before any of its
samples is played, whatever the block size.

The core is TorchScript: ``python -m ddsp_textures export RUN OUT.ts``
(:func:`~ddsp_textures.inference.export.export_stream`) saves it, with the model's networks traced, as one file
that needs only ``torch``.
"""


import math
import warnings

import numpy as np
import torch
from torch import nn

from ddsp_textures.dsp.framing import zscore
from ddsp_textures.inference.frame_renderers import (  # noqa: F401  (join_chunk, RENDERERS: the stream's API)
    RENDERERS,
    StreamModel,
    TexDSPNetwork,
    join_chunk,
    renderer_for,
    traced_renderer,
)
from ddsp_textures.inference.generation import (
    BLOCK_FRAMES,
    LOUDNESS_RANGE_DB,
    _reference_frames,
    _unit_rms,
    reference_layer,
    transient_layer,
)
from ddsp_textures.stats.features import EVENTS_SCALE, RATE_SCALE, feature_dims
from ddsp_textures.synths.transients import analyze_transients, detector, event_waveforms

CONTROL_RAMP_S = 0.05        # a control change moves in a linear ramp of this length
SEED_STRIDE = 1_000_003      # frame j of seed s draws from a generator seeded with s · SEED_STRIDE + j
MAX_SEED = 2**31 - 1
MAX_BLOCK = 2**20
LOUDNESS, CENTROID, RATE, MORPH = 0, 1, 2, 3
RATE_RANGE = (0.0, 1000.0)   # events per second
MIN_CENTROID_HZ = 20.0


def _erb(hz: float) -> float:
    """:func:`~ddsp_textures.dsp.filterbanks.erb_number` of one frequency (TorchScript)."""
    return 9.265 * math.log1p(hz / (24.7 * 9.265))


def _interp(times: list[float], values: list[float], t: float) -> float:
    """A control timeline (breakpoints, linear between them, held outside) at time ``t``; a segment with a NaN
    end (the reference's own value) takes its right-hand value."""
    if t <= times[0]:
        return values[0]
    for i in range(1, len(times)):
        if t < times[i]:
            a, b = values[i - 1], values[i]
            if math.isnan(a) or math.isnan(b):
                return b
            return a + (b - a) * (t - times[i - 1]) / (times[i] - times[i - 1])
    return values[len(values) - 1]


def _interp_samples(times: list[float], values: list[float], start: int, n: int) -> torch.Tensor:
    """The timeline at samples ``start … start + n − 1`` (float64; no NaN values)."""
    if len(times) == 1 or start >= times[len(times) - 1]:
        return torch.full((n,), _interp(times, values, float(start)), dtype=torch.float64)
    t = torch.arange(start, start + n, dtype=torch.float64)
    tt = torch.tensor(times, dtype=torch.float64)
    vv = torch.tensor(values, dtype=torch.float64)
    i = torch.searchsorted(tt, t, right=True).clamp(1, len(times) - 1)
    t0, t1 = tt[i - 1], tt[i]
    w = ((t - t0) / (t1 - t0).clamp_min(1e-9)).clamp(0.0, 1.0)
    return vv[i - 1] + w * (vv[i] - vv[i - 1])


class StreamCore(nn.Module):
    """The stream (TorchScript): see the module docstring.  Built by :func:`stream_core`.

    Methods: ``reset(seed)``; ``set_controls(loudness_db, centroid_hz, rate)`` and ``set_morph(morph)`` (a NaN
    control: the reference's own value; out of range: clamped, with one warning); ``read(n)`` → the next ``n``
    samples ``(n,)``; ``block()`` → the next :attr:`block_size` samples.  Attributes: ``sample_rate``,
    ``block_size``, ``latency`` (samples), ``frame_size``.
    """

    ctrl_t: list[list[float]]
    ctrl_v: list[list[float]]
    targets: list[float]
    rate_cols: list[int]
    rate_scales: list[float]
    state: list[torch.Tensor]
    plan: list[torch.Tensor]

    def __init__(self, renderer: nn.Module, sample_rate: int, frame_size: int, steps_per_frame: int,
                 block_steps: int, steps: tuple[torch.Tensor, torch.Tensor], levels: tuple[torch.Tensor, torch.Tensor],
                 energy: tuple[int, int], centroid_col: int, rate_cols: list[int], rate_scales: list[float],
                 waveforms: tuple[torch.Tensor, torch.Tensor], intervals: tuple[torch.Tensor, torch.Tensor],
                 event_rates: tuple[float, float], block_size: int = 2048, warm_up: bool = False) -> None:
        super().__init__()
        self.renderer = renderer
        self.warm_up = warm_up          # a traced network, called from Python: optimise it in reset
        self.sample_rate, self.frame_size, self.steps_per_frame = sample_rate, frame_size, steps_per_frame
        self.block_steps = max(1, min(block_steps, steps[0].shape[0], steps[1].shape[0]))
        self.register_buffer("steps_a", steps[0])
        self.register_buffer("steps_b", steps[1])
        self.register_buffer("levels_a", levels[0])
        self.register_buffer("levels_b", levels[1])
        self.register_buffer("waves_a", waveforms[0])
        self.register_buffer("waves_b", waveforms[1])
        self.register_buffer("intervals_a", intervals[0])
        self.register_buffer("intervals_b", intervals[1])
        self.energy_start, self.energy_end, self.centroid_col = energy[0], energy[1], centroid_col
        self.rate_cols, self.rate_scales = rate_cols, rate_scales
        self.rate_a, self.rate_b = event_rates
        self.has_events = waveforms[0].shape[0] > 0 or waveforms[1].shape[0] > 0
        self.half = waveforms[0].shape[-1] // 2 if self.has_events else 0
        self.latency = frame_size + self.half
        self.ramp = max(1, int(round(CONTROL_RAMP_S * sample_rate)))
        self.block_size = block_size
        self.max_block, self.max_seed, self.seed_stride = MAX_BLOCK, MAX_SEED, SEED_STRIDE
        self.loudness_range, self.rate_range = LOUDNESS_RANGE_DB, RATE_RANGE
        self.min_centroid = MIN_CENTROID_HZ
        self.centroid_scale = _erb(sample_rate / 2)
        self.means_a = steps[0].mean(0)
        self.means_b = steps[1].mean(0)
        self.warned = [False, False, False, False]
        self.seed = 0
        self.ctrl_t = [[0.0], [0.0], [0.0], [0.0]]
        self.ctrl_v = [[0.0], [math.nan], [math.nan], [0.0]]
        self.targets = [0.0, math.nan, math.nan, 0.0]
        self.state = []
        self.frame, self.position, self.rendered, self.buffer_start = 0, 0, 0, 0
        self.events_frame, self.parts_done, self.pending = 0, 0, False
        self.plan = [torch.zeros(0)]
        self.partial = torch.zeros(0)
        self.boot_a, self.boot_b, self.boot_left = 0, 0, 0
        self.next_event = -1.0
        self.buffer = torch.zeros(0)
        self.reset(0)

    @torch.jit.export
    def reset(self, seed: int) -> None:
        """Start again from time 0 with another seed; the controls are kept and take effect at once."""
        if seed < 0 or seed > self.max_seed:
            raise ValueError("seed must be in [0, 2**31 - 1]")
        self.seed = seed
        if self.warm_up and not torch.jit.is_scripting():
            self._warm_up()
        self.state = self.renderer.initial_state()
        self.frame, self.position, self.rendered, self.buffer_start = 0, 0, 0, 0
        self.events_frame, self.parts_done, self.pending = 0, 0, False
        self.plan = []
        self.partial = torch.zeros(0)
        self.boot_a, self.boot_b, self.boot_left = 0, 0, 0
        self.next_event = -1.0
        self.buffer = torch.zeros(0)
        for k in range(4):
            self.ctrl_t[k] = [0.0]
            self.ctrl_v[k] = [self.targets[k]]

    def _warm_up(self) -> None:
        """Two throwaway first stages of a frame (their own generator and state): TorchScript optimises a traced
        network on its first two calls, which take about twenty times as long, so they happen here and not in a
        block while the stream plays.  Only where the stream itself is not scripted: a scripted method inlines
        the network into its own graph, which its caller's first two calls optimise (an exported file's first
        two blocks)."""
        with torch.no_grad():
            feats = self.steps_a[torch.zeros(self.steps_per_frame, dtype=torch.long)].unsqueeze(0)
            for _ in range(2):
                self.renderer.prepare(feats, self.renderer.initial_state(), self.levels_a[0], torch.Generator())

    def _clamped(self, k: int, value: float, low: float, high: float, name: str) -> float:
        if math.isnan(value):
            return value
        if value < low or value > high:
            if not self.warned[k]:
                warnings.warn(name + " out of range: clamped to [" + str(low) + ", " + str(high) + "]", stacklevel=2)
                self.warned[k] = True
            value = min(max(value, low), high)
        return value

    def _set(self, k: int, value: float) -> None:
        """Move control ``k`` to ``value`` (internal units) from ``position + latency``, in a ramp."""
        same = value == self.targets[k] or (math.isnan(value) and math.isnan(self.targets[k]))
        self.targets[k] = value
        if same:
            return
        at = float(self.position + self.latency)
        times, values = self.ctrl_t[k], self.ctrl_v[k]
        old = _interp(times, values, at)
        new_t: list[float] = []
        new_v: list[float] = []
        for i in range(len(times)):
            if times[i] < at and (i + 1 == len(times) or times[i + 1] > self.position):
                new_t.append(times[i])
                new_v.append(values[i])
        new_t.append(at)
        new_v.append(old)
        new_t.append(at + self.ramp)
        new_v.append(value)
        self.ctrl_t[k] = new_t
        self.ctrl_v[k] = new_v

    @torch.jit.export
    def set_control(self, k: int, value: float) -> None:
        """Control ``k``: 0 loudness (dB relative to the reference), 1 spectral centroid (Hz), 2 event rate
        (events/s), 3 morph (0…1 towards the second reference); NaN: the reference's own value."""
        if k == 0:
            loud = self._clamped(0, value, self.loudness_range[0], self.loudness_range[1], "loudness (dB)")
            self._set(0, 0.0 if math.isnan(loud) else loud)
        elif k == 1:
            hz = self._clamped(1, value, self.min_centroid, self.sample_rate / 2, "centroid (Hz)")
            self._set(1, hz if math.isnan(hz) else _erb(hz) / self.centroid_scale)
        elif k == 2:
            self._set(2, self._clamped(2, value, self.rate_range[0], self.rate_range[1], "rate (events/s)"))
        elif k == 3:
            morph = self._clamped(3, value, 0.0, 1.0, "morph")
            self._set(3, 0.0 if math.isnan(morph) else morph)
        else:
            raise ValueError("control index must be 0 (loudness), 1 (centroid), 2 (rate) or 3 (morph)")

    @torch.jit.export
    def set_controls(self, loudness_db: float, centroid_hz: float, rate: float) -> None:
        """Loudness (dB relative to the reference), spectral centroid (Hz) and event rate (events/s); NaN: the
        reference's own value."""
        self.set_control(0, loudness_db)
        self.set_control(1, centroid_hz)
        self.set_control(2, rate)

    @torch.jit.export
    def set_curve(self, k: int, times: list[float], values: list[float]) -> None:
        """Control ``k`` (0 loudness dB, 1 centroid feature, 2 rate, 3 morph) as breakpoints at absolute sample
        times, for offline generation; no latency, no ramp."""
        self.ctrl_t[k] = times
        self.ctrl_v[k] = values
        self.targets[k] = values[len(values) - 1]

    def _add(self, at: int, chunk: torch.Tensor) -> None:
        end = at + chunk.shape[0]
        have = self.buffer_start + self.buffer.shape[0]
        if end > have:                                   # grow by at least two frames: few reallocations
            self.buffer = torch.cat([self.buffer, torch.zeros(max(end - have, 2 * self.frame_size))])
        start = at - self.buffer_start
        self.buffer[start:start + chunk.shape[0]] += chunk

    def _generator(self, j: int, stream: int) -> torch.Generator:
        """Frame ``j``'s own random numbers: ``stream`` 0 for its synthesis, 1 for its clicks."""
        generator = torch.Generator()
        generator.manual_seed((self.seed * self.seed_stride + j) * 2 + stream)
        return generator

    def _prepare(self) -> None:
        """The first stage of frame ``self.frame``: its controls (read where it begins), its steps of the
        bootstrapped reference trajectory, steered, and the renderer's :meth:`prepare`."""
        j, length = self.frame, self.frame_size
        generator = self._generator(j, 0)
        begin = float(j * length)
        gain_db = _interp(self.ctrl_t[0], self.ctrl_v[0], begin)
        centroid = _interp(self.ctrl_t[1], self.ctrl_v[1], begin)
        rate = _interp(self.ctrl_t[2], self.ctrl_v[2], begin)
        morph = min(max(_interp(self.ctrl_t[3], self.ctrl_v[3], begin), 0.0), 1.0)
        rows_a: list[int] = []
        rows_b: list[int] = []
        for _ in range(self.steps_per_frame):
            if self.boot_left == 0:
                span = self.block_steps
                self.boot_a = int(torch.randint(0, self.steps_a.shape[0] - span + 1, (1,), generator=generator))
                self.boot_b = int(torch.randint(0, self.steps_b.shape[0] - span + 1, (1,), generator=generator))
                self.boot_left = span
            offset = self.block_steps - self.boot_left
            rows_a.append(self.boot_a + offset)
            rows_b.append(self.boot_b + offset)
            self.boot_left -= 1
        feats = self.steps_a[rows_a]
        level = self.levels_a[rows_a[len(rows_a) - 1]]
        means = self.means_a
        if morph > 0.0:
            feats = feats * (1.0 - morph) + self.steps_b[rows_b] * morph
            level_b = self.levels_b[rows_b[len(rows_b) - 1]]
            level = level.clamp_min(1e-12).pow(1.0 - morph) * level_b.clamp_min(1e-12).pow(morph)
            means = self.means_a * (1.0 - morph) + self.means_b * morph
        feats = feats.clone()
        if self.energy_end > self.energy_start and gain_db != 0.0:
            feats[:, self.energy_start:self.energy_end] += gain_db / 20.0
        if self.centroid_col >= 0 and not math.isnan(centroid):
            feats[:, self.centroid_col] += centroid - means[self.centroid_col]
        if not math.isnan(rate):
            for i in range(len(self.rate_cols)):
                col = self.rate_cols[i]
                goal = rate / self.rate_scales[i]
                mean = float(means[col])
                if mean > 1e-6:
                    feats[:, col] *= goal / mean
                else:
                    feats[:, col] = goal
        self.plan, self.state = self.renderer.prepare(feats.unsqueeze(0), self.state, level, generator)
        self.partial = torch.zeros(0)
        self.parts_done = 0
        self.pending = True

    def _step(self) -> None:
        """One stage of frame ``self.frame``: prepare it, synthesise one part, or finish it into the buffer."""
        if not self.pending:
            self._prepare()
        elif self.parts_done < self.renderer.parts:
            part = self.renderer.part(self.plan, self.parts_done)
            self.partial = part if self.parts_done == 0 else self.partial + part
            self.parts_done += 1
        else:
            chunk = self.renderer.finish(self.plan, self.partial)
            self._add(self.frame * self.frame_size, chunk.float())
            self.plan = []
            self.pending = False
            self.frame += 1

    def _place_events(self, j: int) -> None:
        """Clicks whose atoms start in frame ``j``: intervals drawn from the reference's own, scaled by the rate
        control; each event one of the reference's, drawn at random."""
        length, half = self.frame_size, self.half
        generator = self._generator(j, 1)
        morph = min(max(_interp(self.ctrl_t[3], self.ctrl_v[3], float(j * length)), 0.0), 1.0)
        end = float((j + 1) * length + half)
        own = (1.0 - morph) * self.rate_a + morph * self.rate_b
        if self.next_event < 0:
            first = self.intervals_a if self.intervals_a.shape[0] > 0 else self.intervals_b
            pick = int(torch.randint(0, first.shape[0], (1,), generator=generator))
            phase = float(torch.rand(1, generator=generator, dtype=torch.float64))
            self.next_event = max(float(half), float(first[pick]) * phase)
        while self.next_event < end:
            t = int(round(self.next_event))
            use_b = morph > 0.0 and float(torch.rand(1, generator=generator, dtype=torch.float64)) < morph
            waves = self.waves_b if use_b else self.waves_a
            intervals = self.intervals_b if use_b else self.intervals_a
            wanted = _interp(self.ctrl_t[2], self.ctrl_v[2], float(t))
            if waves.shape[0] == 0 or (not math.isnan(wanted) and wanted < 0.01):
                self.next_event = float(t + length // 4)
                continue
            pick = int(torch.randint(0, waves.shape[0], (1,), generator=generator))
            self._add(t - half, waves[pick])
            step = float(intervals[int(torch.randint(0, intervals.shape[0], (1,), generator=generator))])
            if not math.isnan(wanted) and own > 0.0:
                step = step * own / wanted
            self.next_event = self.next_event + max(step, 1.0)

    @torch.jit.export
    def read(self, n: int) -> torch.Tensor:
        """The next ``n`` samples (float32, at the level of the reference scaled to unit RMS)."""
        if n < 1 or n > self.max_block:
            raise ValueError("a block must have 1 to 2**20 samples")
        with torch.no_grad():
            while self.rendered < self.position + n:    # every frame and click that these samples need
                j = self.events_frame
                while self.frame <= j:
                    self._step()
                if self.has_events:
                    self._place_events(j)
                self.events_frame = j + 1
                self.rendered = (j + 1) * self.frame_size
            # one stage of the next frame ahead of time, once nothing can change its controls: the work of a
            # frame spreads over the blocks that play the one before it
            if self.frame <= self.events_frame and self.frame * self.frame_size < self.position + n + self.latency:
                self._step()
        start = self.position - self.buffer_start
        out = self.buffer[start:start + n].clone()
        if len(self.ctrl_t[0]) > 1 or self.ctrl_v[0][0] != 0.0:     # a loudness other than the model's own
            gain_db = _interp_samples(self.ctrl_t[0], self.ctrl_v[0], self.position, n)
            out = out * torch.pow(10.0, gain_db / 20.0).float()
        self.position += n
        self.buffer = self.buffer[start + n:]
        self.buffer_start = self.position
        for k in range(4):                       # breakpoints that no future sample or frame reads
            while len(self.ctrl_t[k]) > 1 and self.ctrl_t[k][1] <= self.position:
                self.ctrl_t[k] = self.ctrl_t[k][1:]
                self.ctrl_v[k] = self.ctrl_v[k][1:]
        return out

    @torch.jit.export
    def block(self) -> torch.Tensor:
        """The next :attr:`block_size` samples."""
        return self.read(self.block_size)

    def forward(self) -> torch.Tensor:
        return self.block()



def _events(x: torch.Tensor, fs: int, transients: str) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor]:
    """The reference's clicks (:func:`~ddsp_textures.synths.transients.analyze_transients`): their waveforms
    ``(E, W)``, their intervals (samples; a Poisson process at their rate where there are fewer than 3), their
    rate (events/s), and the bed they leave."""
    layer, bed = analyze_transients(x.double(), fs, generator=torch.Generator().manual_seed(0), **detector(transients))
    waves = event_waveforms(layer).float()
    count = layer.times.numel()
    if count == 0:
        return waves, torch.zeros(0, dtype=torch.float64), 0.0, bed.float()
    intervals = torch.diff(layer.times).double()
    if intervals.numel() < 2:
        uniform = torch.rand(256, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        intervals = -torch.log1p(-uniform) * fs / layer.rate()
    return waves, intervals, layer.rate(), bed.float()


def _trajectory(model: StreamModel, x: torch.Tensor, steps_per_frame: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's encoder inputs ``(R, D)`` (concatenated) and loudness targets ``(R, T)`` per frame, at
    hop ``L / steps_per_frame`` (P-VAE frames: their RMS; whole TexEnv frames: what
    :meth:`~ddsp_textures.models.TextureModel.frame_loudness` measures)."""
    frames = _reference_frames(model, x, hop=model.frame_size // steps_per_frame)
    feats = torch.cat(model.features(zscore(frames)), dim=-1).float().cpu()
    level = model.frame_loudness(frames)
    return feats, level.reshape(frames.shape[0], -1).float().cpu()


def _columns(model: StreamModel) -> tuple[tuple[int, int], int, list[int], list[float]]:
    """Where each steerable input sits in the concatenated features."""
    energy, centroid, rate_cols, rate_scales, start = (0, 0), -1, [], [], 0
    for name, dim in zip(model.feature_names, feature_dims(model.feature_names, model.n_bands), strict=True):
        if name == "energy_bands":
            energy = (start, start + dim)
        elif name == "centroid":
            centroid = start
        elif name in ("rate", "events"):
            rate_cols.append(start)
            rate_scales.append(RATE_SCALE if name == "rate" else EVENTS_SCALE)
        start += dim
    return energy, centroid, rate_cols, rate_scales


def stream_core(model: StreamModel, reference: np.ndarray | torch.Tensor, transients: str | bool | None = "default",
                morph_reference: np.ndarray | torch.Tensor | None = None, block_size: int = 2048,
                renderer: nn.Module | None = None) -> StreamCore:
    """A :class:`StreamCore` for ``model`` from a reference recording (and a second one to morph towards).

    ``transients``: ``"default"`` (``"auto"`` for models with a TexEnv bed — TexDSP, hybrid —, none for a
    P-VAE; :func:`~ddsp_textures.inference.generation.generate`), ``"auto"`` (per reference, the layer its DSP
    resynthesis keeps: :func:`~ddsp_textures.inference.generation.reference_layer`), a detector name of
    :data:`~ddsp_textures.synths.transients.DETECTORS`, or ``None``/``False``.  ``renderer``: the model's
    frame renderer (default :func:`renderer_for`, the eager networks; a live stream passes
    :func:`traced_renderer`, which plays the same numbers faster).
    """
    renderer = renderer_for(model) if renderer is None else renderer
    transients = transient_layer(model, transients)
    if not 1 <= block_size <= MAX_BLOCK:
        raise ValueError(f"block_size must be in [1, {MAX_BLOCK}], got {block_size}")
    fs = int(model.fs)
    steps_per_frame = model.steps_per_frame
    sides = []
    for side in (reference, reference if morph_reference is None else morph_reference):
        layer = reference_layer(model, transients, side)
        x = _unit_rms(side)
        waves, intervals, rate = torch.zeros(0, 1), torch.zeros(0, dtype=torch.float64), 0.0
        if layer:
            waves, intervals, rate, x = _events(x, fs, layer)
            waves = waves * float(getattr(model, "layer_gain", 1.0))     # as calibrated after training
        with torch.no_grad():
            feats, level = _trajectory(model, x, steps_per_frame)
        sides.append((feats, level, waves, intervals, rate))
    (fa, la, wa, ia, ra), (fb, lb, wb, ib, rb) = sides
    if wa.shape[-1] != wb.shape[-1]:
        wb = wb.new_zeros(0, wa.shape[-1]) if wb.shape[0] == 0 else wb
        wa = wa.new_zeros(0, wb.shape[-1]) if wa.shape[0] == 0 else wa
    energy, centroid, rate_cols, rate_scales = _columns(model)
    return StreamCore(renderer, fs, model.frame_size, steps_per_frame, BLOCK_FRAMES * steps_per_frame // 2,
                      (fa, fb), (la, lb), energy, centroid, rate_cols, rate_scales, (wa, wb), (ia, ib), (ra, rb),
                      block_size, isinstance(getattr(renderer, "net", None), torch.jit.ScriptModule))


class TextureStream:
    """Stream texture from a trained model, block by block, for as long as asked (see the module docstring).

    >>> # stream = TextureStream(model, reference); stream.set_controls(loudness=-6); y = stream.read(2048)

    Args:
        model: a trained TexDSP, P-VAE or hybrid model; reference: the recording whose feature trajectory (and
            clicks) the stream draws from; seed: its random numbers; transients: see :func:`stream_core`;
        morph_reference: a second recording, reached with ``set_controls(morph=1)``.

    Shape:
        ``read(n)`` → ``(n,)`` float32 at the level of the reference scaled to unit RMS.
    """

    def __init__(self, model: StreamModel, reference: np.ndarray | torch.Tensor, seed: int = 0,
                 transients: str | bool | None = "default",
                 morph_reference: np.ndarray | torch.Tensor | None = None) -> None:
        self.model = model
        self.core = stream_core(model, reference, transients, morph_reference, renderer=traced_renderer(model))
        self.reset(seed)
        self._inputs = set(model.feature_names)
        self._unused: set[str] = set()

    @property
    def sample_rate(self) -> int:
        return self.core.sample_rate

    @property
    def latency(self) -> int:
        """Samples from the start of the next block to where a control set now reaches the audio."""
        return self.core.latency

    def reset(self, seed: int = 0) -> None:
        """Start again from time 0 (controls kept)."""
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
        self.core.reset(seed)

    def set_controls(self, loudness: float | None = None, centroid: float | None = None,
                     rate: float | None = None, morph: float | None = None) -> None:
        """Move the controls (``None``: unchanged; NaN: the reference's own value): loudness in dB relative to
        the reference, spectral centroid in Hz, event rate in events/s, morph 0…1 towards the second
        reference.  They reach the audio :attr:`latency` samples after the next block starts."""
        values = {"loudness": loudness, "centroid": centroid, "rate": rate, "morph": morph}
        for name, value in values.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{name} must be a number, got {value!r}")
        self._warn_unused(centroid, rate)
        for k, value in enumerate((loudness, centroid, rate, morph)):
            if value is not None:
                self.core.set_control(k, float(value))

    def _warn_unused(self, centroid: float | None, rate: float | None) -> None:
        unused = []
        if centroid is not None and "centroid" not in self._inputs:
            unused.append("centroid")
        if rate is not None and not {"rate", "events"} & self._inputs and not self.core.has_events \
                and not self.model.synthesizes_events:
            unused.append("rate")
        for name in unused:
            if name not in self._unused:
                warnings.warn(f"this model has no {name} input: the {name} control does nothing", stacklevel=3)
                self._unused.add(name)

    @torch.no_grad()
    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_BLOCK:
            raise ValueError(f"a block must have 1 to {MAX_BLOCK} samples, got {n!r}")
        return self.core.read(n).numpy()

    def blocks(self, block_size: int, seconds: float | None = None):  # noqa: ANN201
        """Blocks of ``block_size`` samples, for ``seconds`` (the last one cut) or for ever."""
        total = None if seconds is None else int(round(seconds * self.sample_rate))
        done = 0
        while total is None or done < total:
            n = block_size if total is None else min(block_size, total - done)
            yield self.read(n)
            done += n
