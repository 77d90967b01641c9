"""Framing: frames, half-overlap frames with wrap-padding, overlap-add, z-scoring and RMS — one module used by the
library, the benchmarks and the book (book chapters: *TexEnv synth*, *DDSP training*).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch


def rms(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Root mean square along the last axis (``eps`` keeps its gradient finite at silence): ``(..., L) -> (...)``.

    >>> float(rms(torch.tensor([3.0, -3.0])))
    3.0
    """
    return torch.sqrt(x.pow(2).mean(-1) + eps)


def float_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A float32 tensor of a signal; a read-only array (e.g. a memory-mapped corpus) is copied, never aliased."""
    if isinstance(x, torch.Tensor):
        return x.float()
    x = np.asarray(x, dtype=np.float32)
    return torch.from_numpy(x if x.flags.writeable else x.copy())


def as_signal(audio: np.ndarray | torch.Tensor, name: str = "audio") -> torch.Tensor:
    """A mono float32 tensor of a signal given to a public function, or a :class:`ValueError` naming ``name``:
    1-D, at least one sample, floating point (integer samples would be read as values in the thousands: convert
    them, e.g. ``x / 32768`` for 16-bit), all finite.

    >>> as_signal(np.array([0.5, -0.5])).dtype
    torch.float32
    """
    dtype = audio.dtype if isinstance(audio, torch.Tensor | np.ndarray) else np.asarray(audio).dtype
    floating = dtype.is_floating_point if isinstance(dtype, torch.dtype) else np.issubdtype(dtype, np.floating)
    if not floating:
        raise ValueError(f"{name} must hold floating-point samples (about ±1), got {dtype}: convert it, e.g. "
                         f"x / 32768 for 16-bit integers")
    x = audio.detach().float().cpu() if isinstance(audio, torch.Tensor) else torch.from_numpy(
        np.array(audio, dtype=np.float32))
    if x.dim() != 1:
        raise ValueError(f"{name} must be mono (1-D), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf samples")
    return x


def unit_rms(audio: np.ndarray | torch.Tensor, name: str = "audio") -> torch.Tensor:
    """A checked mono signal (:func:`as_signal`) scaled to unit RMS (the RMS taken in float64; silence stays
    silence): how generation and the calibration after training present a reference to the transient chooser.

    Shape:
        ``(n,) -> (n,)`` float32.

    >>> unit_rms(np.array([3.0, -3.0, 3.0, -3.0])).tolist()
    [1.0, -1.0, 1.0, -1.0]
    """
    x = as_signal(audio, name)
    return x / x.double().pow(2).mean().sqrt().clamp_min(1e-12).float()


def frame_signal(x: np.ndarray | torch.Tensor, frame_size: int, hop: int) -> torch.Tensor:
    """All full frames ``x[i·hop : i·hop + L]`` (the last valid frame included): ``(n,) -> (F, L)``."""
    x = float_tensor(x)
    if x.shape[-1] < frame_size:
        raise ValueError(f"audio of {x.shape[-1]} samples is shorter than one frame ({frame_size} samples)")
    return x.unfold(-1, frame_size, hop)


def zscore(frames: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero-mean, unit-variance frames along the last axis; silent frames stay 0, and the gradient is finite
    there too (``eps`` sits inside the square root).

    >>> z = zscore(torch.tensor([[1.0, 3.0], [2.0, 2.0]]))
    >>> [[round(v, 4) for v in row] for row in z.tolist()]
    [[-0.7071, 0.7071], [0.0, 0.0]]
    """
    centred = frames - frames.mean(-1, keepdim=True)
    n = max(frames.shape[-1] - 1, 1)
    return centred / torch.sqrt(centred.pow(2).sum(-1, keepdim=True) / n + eps**2)


Window = Literal["hann", "sqrt_hann"]


def overlap_add(frames: torch.Tensor, hop: int, window: Window = "hann") -> torch.Tensor:
    """Overlap-add frames at 50 % overlap with a complementary window; frames keep their time alignment.

    ``"hann"`` (``w + w' = 1``) reconstructs overlapping copies of one signal exactly.  ``"sqrt_hann"``
    (``w² + w'² = 1``) is for neighbours whose fine structure is uncorrelated — TexEnv frames whose carriers
    were shifted by different random offsets (:func:`texenv_synthesis`): their *powers* add, so the level stays
    constant across the overlap while the envelopes stay where the analysis found them.  (Rolling whole frames
    instead, as the reference did, moves the envelopes away from their time.)  The first and last half frames
    are not faded.

    Shape:
        ``(F, L) -> (L + (F - 1)·hop,)``.

    >>> x = torch.randn(96, dtype=torch.float64)
    >>> frames = x.unfold(0, 32, 16)
    >>> bool(torch.allclose(overlap_add(frames, 16), x))
    True
    """
    n_frames, length = frames.shape
    if hop != length // 2 or length % 2:
        raise ValueError("overlap_add works at 50 % overlap: hop must be L // 2 with L even")
    if window not in ("hann", "sqrt_hann"):
        raise ValueError(f"unknown window {window!r}; use 'hann' or 'sqrt_hann'")
    w = torch.hann_window(length, periodic=True, dtype=frames.dtype, device=frames.device)
    if window == "sqrt_hann":
        w = w.sqrt()
    windows = w.expand(n_frames, length).clone()
    windows[0, : length // 2] = 1.0
    windows[-1, length // 2:] = 1.0
    total = length + (n_frames - 1) * hop
    out = torch.zeros(total, dtype=frames.dtype, device=frames.device)
    idx = (torch.arange(n_frames, device=frames.device)[:, None] * hop
           + torch.arange(length, device=frames.device)[None, :])
    out.index_add_(0, idx.reshape(-1), (frames * windows).reshape(-1))
    return out


FADE_SECONDS = 0.005        # crossfade between whole model frames (join_circular) at inference


def join_circular(frames: torch.Tensor, fade: int) -> torch.Tensor:
    """Concatenate consecutive L-periodic frames (TexEnv frames: circular envelopes times circularly shifted
    carriers), each boundary smoothed by a power-complementary crossfade of ``fade`` samples between the new
    frame and the *periodic continuation* of the previous one (its own first samples), so nothing is cut.

    Every output sample comes from whole frames: model frames are trained as whole circular frames (TexStat is
    circular), and a model may place its envelope peaks anywhere in a frame, so pieces of frames (what an
    overlap-add with a long window mixes) need not have a whole frame's statistics.

    Shape:
        ``(F, L) -> (F·L,)``.

    >>> f = torch.arange(12.0).reshape(3, 4)
    >>> join_circular(f, 1).tolist() == f.reshape(-1).tolist()   # a one-sample fade is the plain concatenation
    True
    """
    n_frames, length = frames.shape
    if not 0 < fade <= length:
        raise ValueError(f"fade must be in (0, L] samples, got {fade} for L = {length}")
    out = frames.clone()
    t = (torch.arange(fade, dtype=frames.dtype, device=frames.device) + 1) / fade
    fade_in, fade_out = torch.sin(0.5 * torch.pi * t), torch.cos(0.5 * torch.pi * t)
    out[1:, :fade] = frames[:-1, :fade] * fade_out + frames[1:, :fade] * fade_in
    return out.reshape(-1)


ROTATION_CANDIDATES = 32   # join positions rotate_frames compares around each random start
ROTATION_REACH = 1 / 16     # ... within ± this fraction of the frame


def rotate_frames(frames: torch.Tensor, fade: int, generator: torch.Generator | None = None,
                  candidates: int = ROTATION_CANDIDATES, reach: float = ROTATION_REACH) -> torch.Tensor:
    """Rotate each L-periodic frame circularly to start at a random point moved to the quietest of ``candidates``
    evenly spaced positions within ``±reach·L`` of it (energy within ``±fade`` samples), before
    :func:`join_circular` (book chapter: *DDSP training*).

    A trained TexDSP decodes nearly the same envelope phases for every frame, so its frames repeat one envelope
    timeline: measured on models trained on a train recording and on water, band envelopes correlate 0.74 and
    0.46 on average from one frame to the next (the recordings: 0.00), a loop of ``L`` samples.  A circular
    rotation leaves a frame's statistics unchanged (TexStat is circular) and breaks the loop.  The random start
    spreads the frames' timelines over the whole circle; the local search keeps the join's crossfade out of
    the frame's peaks (a join inside a peak changes the frame's kurtosis: one purely random start per frame
    cost the train model 2–5 % frame TexStat).  Choosing the quietest point of the *whole* frame instead would
    line the frames up again at their common quiet point.

    Shape:
        ``(F, L) -> (F, L)``.

    >>> f = torch.zeros(2, 64); f[:, 10] = 1.0                       # one click per frame
    >>> out = rotate_frames(f, 4, torch.Generator().manual_seed(0))
    >>> bool(torch.equal(out.sort(-1).values, f.sort(-1).values)), bool((out[:, :4] == 0).all())
    (True, True)
    """
    n_frames, length = frames.shape
    if not 0 < fade <= length // 2:
        raise ValueError(f"fade must be in (0, L/2] samples, got {fade} for L = {length}")
    if candidates < 1:
        raise ValueError(f"candidates must be >= 1, got {candidates}")
    if not 0 <= reach <= 0.5:
        raise ValueError(f"reach must be in [0, 0.5], got {reach}")
    power = frames.detach().double().pow(2)
    padded = torch.cat([power[:, -fade:], power, power[:, :fade]], dim=-1)
    cumulative = torch.nn.functional.pad(padded.cumsum(-1), (1, 0))
    energy = cumulative[:, 2 * fade: 2 * fade + length] - cumulative[:, :length]     # window [p − fade, p + fade)
    random_start = torch.randint(0, length, (n_frames, 1), generator=generator).to(frames.device)
    offsets = torch.linspace(-reach * length, reach * length, candidates, device=frames.device).round().long()
    starts = (random_start + offsets) % length                                       # (F, candidates)
    best = starts.gather(1, energy.gather(1, starts).argmin(1, keepdim=True))       # (F, 1)
    index = (torch.arange(length, device=frames.device) + best) % length
    return frames.gather(1, index)


def join_model_frames(frames: torch.Tensor, fs: float, generator: torch.Generator | None = None,
                      rotate: bool = True) -> torch.Tensor:
    """How model inference joins its whole L-periodic frames: each rotated by :func:`rotate_frames` (unless
    ``rotate`` is false), then :func:`join_circular` with :data:`FADE_SECONDS` crossfades.

    Shape:
        ``(F, L) -> (F·L,)``.
    """
    fade = max(1, min(frames.shape[-1] // 2, round(FADE_SECONDS * fs)))
    return join_circular(rotate_frames(frames, fade, generator) if rotate else frames, fade)


def random_shifts(n: int, length: int, generator: torch.Generator | None = None, hop: int | None = None
                  ) -> torch.Tensor:
    """``n`` random carrier shifts in ``[0, length)`` (CPU, int64).

    Without ``hop`` they are independent (frames that are never mixed, e.g. training items).  With ``hop``, the
    frames' spacing, consecutive frames are mixed where they overlap (overlap-add, crossfades), and there frame
    ``k + 1`` adds the same L-periodic carrier delayed by ``d = (hop + s_{k+1} − s_k) mod L`` samples: a comb filter,
    heard as a buzz and seen as stripes across the spectrum, when ``d`` is near ``0`` or ``L``.  Independent shifts
    gave ``d = 16`` samples (a 1.4-kHz comb over a third of a second) in one resynthesis of 11 frames, so each
    delay is drawn from ``[L/4, 3L/4)`` instead; every shift is still uniform on ``[0, L)``.

    >>> s = random_shifts(1000, 4096, torch.Generator().manual_seed(0), hop=2048)
    >>> d = (2048 + s[1:] - s[:-1]) % 4096
    >>> bool(((d >= 1024) & (d < 3072)).all()), int(s.min()) >= 0, int(s.max()) < 4096
    (True, True, True)
    """
    if hop is None:
        return torch.randint(0, length, (n,), generator=generator)
    first = torch.randint(0, length, (1,), generator=generator)
    delays = torch.randint(length // 4, length - length // 4, (max(n - 1, 0),), generator=generator)
    steps = delays - hop
    return (first + torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(steps, 0)]))[:n] % length


def wrap_pad(x: torch.Tensor, total: int) -> torch.Tensor:
    """Extend a texture to ``total`` samples by repeating its beginning (zero padding would put silence into
    the last frame, and its envelopes would fade the end of the resynthesis out)."""
    n = x.shape[-1]
    if total <= n:
        return x[..., :total]
    reps = -(-total // n)
    return torch.cat([x] * reps, dim=-1)[..., :total]


def half_overlap_frames(x: torch.Tensor, length: int) -> torch.Tensor:
    """Frames of ``length`` at hop ``length/2`` covering all of ``x`` (at least two; the end is wrap-padded),
    ready for :func:`overlap_add`: ``(n,) -> (F, L)``."""
    hop = length // 2
    n_frames = max(2, -(-max(x.shape[-1] - length, 0) // hop) + 1)
    return wrap_pad(x, length + (n_frames - 1) * hop).unfold(-1, length, hop)


