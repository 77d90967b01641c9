"""Resynthesis and timbre transfer with a trained run (book chapters: *DDSP training*, *P-VAE synth*).

TexDSP: the input is cut in frames of ``L`` samples with hop ``L/2`` (wrap-padded to a whole number of frames of
``L``), each frame is z-scored and described by the model's features, and the GRU runs over **all** frames in order,
as in training.  Every other frame — consecutive, non-overlapping frames of ``L`` — is synthesised with the loudness
of the input frame (``"generic"``: frame RMS, ``"specific"``: RMS of every band of the Hann-tapered frame,
:func:`~ddsp_textures.stats.features.band_loudness`, so that the circular filter's wrap-around click does not count as
band energy) and with carriers shifted by a random offset per frame (the model trains with such shifts); each frame
is rotated circularly to start near a random point, at a quiet one (:func:`~ddsp_textures.dsp.framing.rotate_frames`: a
model decodes nearly the same envelope timeline for every frame, which would otherwise repeat every ``L`` samples),
and the frames are joined with short circular crossfades (:func:`~ddsp_textures.dsp.framing.join_circular`).  Whole
frames are what the model was trained to produce: overlap-adding all half-overlapping frames with a long window, as
the DSP resynthesis does with time-aligned analysed envelopes, mixes *pieces* of model frames whose envelope peaks
need not be where the input's were (measured on procedural rain drops: frame TexStat 15.7 with the overlap-add, 14.3
with whole frames).  The ``"overlap_add"`` joining is kept as an option.  Timbre transfer is the same call with a
recording of another texture.

Hybrid models synthesise the same whole frames as in training — bed plus the z-scored events, circular within
the frame, with hard events (the straight-through training forward has the same values) — and give each
frame, as a whole, the input frame's band RMS, residual bands included
(:meth:`~ddsp_textures.models.HybridModel.synthesize`).

``transients=True`` (TexDSP and hybrid models): the input's clicks are taken out first
(:func:`~ddsp_textures.synths.transients.analyze_transients`, book chapter *TexEnv synth*), the model resynthesises
the residual bed, and the transient layer — atoms cut from the input, at the input's event times — is added back.
The events then come from the input, not from the model: right for resynthesis, not for timbre transfer.
``transients="auto"`` resynthesises without a layer and with each detector and keeps the one closest to the input
in frame TexStat, as :func:`~ddsp_textures.synths.texenv_resynthesize` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from ddsp_textures._deprecated import renamed_keywords
from ddsp_textures.dsp.framing import (
    as_signal,
    half_overlap_frames,
    join_model_frames,
    overlap_add,
    random_shifts,
    rms,
    wrap_pad,
    zscore,
)
from ddsp_textures.dsp.spectral import equalize_to
from ddsp_textures.inference.generation import transient_layer
from ddsp_textures.models import HybridModel, PVAEModel, TexDSP, TextureModel
from ddsp_textures.stats.features import band_loudness
from ddsp_textures.synths.analysis import choose_transients
from ddsp_textures.synths.texenv import Loudness
from ddsp_textures.synths.transients import analyze_transients, detector, synthesize_transients


@renamed_keywords(equalise="equalize")
@torch.no_grad()
def resynthesize(model: TexDSP | PVAEModel | HybridModel, audio: np.ndarray | torch.Tensor,
                 loudness: Loudness = "specific", seed: int = 0, joining: Joining = "circular",
                 transients: bool | str = False, rotate: bool = True, equalize: bool = False) -> np.ndarray:
    """Resynthesise (or timbre-transfer) a mono signal at the model's sample rate.

    P-VAE models take consecutive non-overlapping frames, hard Poisson events and the frame RMS of the input
    (``loudness`` is ignored); grain tails are carried across frames.  Hybrid models give each frame the band
    loudness of the input frame, residual bands included (``loudness`` is ignored; :meth:`HybridModel.synthesize`;
    :func:`~ddsp_textures.stats.features.band_loudness`).
    ``joining``: ``"circular"`` (whole frames of ``L`` with short circular crossfades, the default) or
    ``"overlap_add"`` (all half-overlapping frames, ``sqrt_hann``).  ``transients`` (TexDSP and hybrid models,
    which have a TexEnv bed): keep the input's transient layer and let the model resynthesise the bed (see the
    module docstring); ``True`` or a detector name (``"clicks"``, ``"knocks"``:
    :data:`~ddsp_textures.synths.transients.DETECTORS`), or
    ``"auto"`` (the closest of no layer and each detector's, compared on a probe of a few frames where the input
    is long: :func:`~ddsp_textures.synths.analysis.choose_transients`).  ``rotate=False`` joins whole frames without
    rotating them (:func:`~ddsp_textures.dsp.framing.rotate_frames`): the model's frames then repeat one envelope
    timeline every ``L`` samples — to hear what the rotation removes.  ``equalize`` filters the result so that
    its long-term spectrum follows the input's within ±6 dB (:func:`~ddsp_textures.dsp.spectral.equalize_to`, as the
    DSP resynthesis does): a model's envelope modulation spreads each band's energy across the band, which fills
    the valleys between spectral peaks (a rainforest recording: +6 dB at 160–400 Hz, an insect's 800-Hz peak 10 dB
    low; worst 1/3 octave 5.9 → 2.9 dB, frame TexStat +4 %).  Off by default: for a timbre transfer it would
    impose the *input's* fine spectrum.
    Returns a float32 array of the input's length.
    """
    x = as_signal(audio, "audio")
    y = _resynthesize(model, x, loudness, seed, joining, transients, rotate)
    if equalize:
        y = equalize_to(torch.from_numpy(y).double(), x.double(), model.fs).numpy().astype(np.float32)
    return y


def _resynthesize(model: TexDSP | PVAEModel | HybridModel, x: torch.Tensor, loudness: Loudness, seed: int,
                  joining: Joining, transients: bool | str, rotate: bool) -> np.ndarray:
    """:func:`resynthesize` of a checked input, without the equaliser."""
    transient_layer(model, transients)                    # only a TexEnv bed takes a layer
    if transients == "auto":
        return _closest_layer(model, x, loudness, seed, joining, rotate)
    layer = None
    if transients:
        layer, bed = analyze_transients(x.double(), model.fs, generator=torch.Generator().manual_seed(seed),
                                        **detector(transients))
        x = bed.float()
    if joining not in ("circular", "overlap_add"):
        raise ValueError(f"unknown joining {joining!r}; use 'circular' or 'overlap_add'")
    pipeline = RESYNTHESIZERS.get(getattr(model, "architecture", None))
    if pipeline is None:
        raise ValueError(f"resynthesis needs a TexDSP, P-VAE or hybrid model, got {type(model).__name__}")
    y = pipeline(model, x, loudness, seed, joining, rotate)
    if layer is not None:
        gain = float(getattr(model, "layer_gain", 1.0))          # as calibrated after training
        y = y + (gain * synthesize_transients(layer)).numpy().astype(np.float32)
    return y


def _resynthesize_texdsp(model: TexDSP, x: torch.Tensor, loudness: Loudness, seed: int, joining: Joining,
                         rotate: bool) -> np.ndarray:
    frames, feats, _, synthesised = _frame_latents(model, x, joining, encode=False)
    device = feats[0].device
    if loudness == "specific":
        target = band_loudness(frames[synthesised].to(device), model.bank).unsqueeze(0)
    else:
        target = rms(frames[synthesised]).to(device).unsqueeze(0)
    generator = torch.Generator().manual_seed(seed)
    shifts = _shifts(len(synthesised), model.frame_size, joining, generator)
    out = model.synthesize(feats, loudness, target, shifts, frames=synthesised)[0]     # (F', L)
    return _join(out.cpu(), joining, model.fs, generator, rotate)[: x.shape[0]].numpy().astype(np.float32)


Joining = Literal["circular", "overlap_add"]


def _closest_layer(model: TexDSP, x: torch.Tensor, loudness: Loudness, seed: int, joining: Joining,
                   rotate: bool) -> np.ndarray:
    """``transients="auto"``: the resynthesis (no layer, or each detector's) closest to ``x`` in frame TexStat
    (:func:`~ddsp_textures.synths.analysis.choose_transients`, the DSP resynthesis's chooser)."""
    return choose_transients(x, lambda name, signal: _resynthesize(model, signal, loudness, seed, joining, name,
                                                                   rotate),
                             model.bank)


def _frame_latents(model: TexDSP | HybridModel, x: torch.Tensor, joining: Joining, encode: bool = True
                   ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor | None, torch.Tensor]:
    """``(frames (F, L) at hop L/2, their features (1, F, ·), encoder latents (1, F, D) if ``encode``, indices of
    the frames to synthesise)``."""
    length = model.frame_size
    if joining == "circular":      # F = 2·(whole frames) − 1 half-overlap frames; the even ones tile the signal
        whole = max(1, -(-x.shape[0] // length))
        frames = wrap_pad(x, whole * length).unfold(-1, length, length // 2)
        synthesised = torch.arange(0, frames.shape[0], 2)
    else:
        frames = half_overlap_frames(x, length)
        synthesised = torch.arange(frames.shape[0])
    device = next(model.parameters()).device
    feats = [f.unsqueeze(0) for f in model.features(zscore(frames).to(device))]
    return frames, feats, model.encoder(feats)[0] if encode else None, synthesised


def _shifts(n: int, length: int, joining: Joining, generator: torch.Generator) -> torch.Tensor:
    """Carrier shifts ``(1, n)`` of the synthesised frames, spread so that neighbours never mix nearly the same
    carrier (a comb filter; :func:`~ddsp_textures.dsp.framing.random_shifts`): the frames are ``L`` apart when joined
    circularly, ``L/2`` when overlap-added."""
    hop = length if joining == "circular" else length // 2
    return random_shifts(n, length, generator, hop=hop).unsqueeze(0)


def _join(frames: torch.Tensor, joining: Joining, fs: float, generator: torch.Generator, rotate: bool = True
          ) -> torch.Tensor:
    """Whole frames rotated to random quiet starts (:func:`~ddsp_textures.dsp.framing.rotate_frames`: no loop of
    ``L`` samples; not if ``rotate`` is false) and joined circularly, or half-overlapping frames overlap-added."""
    if joining == "circular":
        return join_model_frames(frames, fs, generator, rotate)
    return overlap_add(frames, frames.shape[-1] // 2, "sqrt_hann")


def _resynthesize_pvae(model: PVAEModel, x: torch.Tensor, loudness: Loudness, seed: int, joining: Joining,
                       rotate: bool) -> np.ndarray:
    """Consecutive frames of ``L``, hard events, the input frames' RMS (``loudness``, ``joining`` and ``rotate``
    do not apply: grain tails are carried across frames)."""
    length, n = model.frame_size, x.shape[0]
    n_frames = max(1, -(-n // length))
    frames = wrap_pad(x, n_frames * length).reshape(n_frames, length)
    y = model.resynthesize_frames(frames, torch.Generator().manual_seed(seed))
    return y[:n].cpu().numpy().astype(np.float32)


def _resynthesize_hybrid(model: HybridModel, x: torch.Tensor, loudness: Loudness, seed: int, joining: Joining,
                         rotate: bool) -> np.ndarray:
    """The hybrid's whole frames given the input frames' band RMS, residual bands included (``loudness`` does
    not apply)."""
    frames, feats, _, synthesised = _frame_latents(model, x, joining, encode=False)
    generator = torch.Generator().manual_seed(seed)
    shifts = _shifts(len(synthesised), model.frame_size, joining, generator)
    target = band_loudness(frames[synthesised].to(feats[0].device), model.bank, residuals=True).unsqueeze(0)
    out = model.synthesize(feats, target, shifts, frames=synthesised, generator=generator)[0]
    return _join(out.cpu(), joining, model.fs, generator, rotate)[: x.shape[0]].numpy().astype(np.float32)


Resynthesizer = Callable[[TextureModel, torch.Tensor, Loudness, int, Joining, bool], np.ndarray]
RESYNTHESIZERS: dict[str, Resynthesizer] = {"TexDSP": _resynthesize_texdsp, "PVAE": _resynthesize_pvae,
                                           "HYBRID": _resynthesize_hybrid}
"""The resynthesis pipeline of each :attr:`~ddsp_textures.models.TextureModel.architecture`: a new architecture
adds its own entry here (and a renderer in :data:`ddsp_textures.inference.streaming.RENDERERS`) instead of a
branch in the callers."""
