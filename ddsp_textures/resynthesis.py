"""Resynthesis and timbre transfer with a trained run (book chapters: *DDSP training*, *P-VAE synth*).

The input is cut in frames of ``L`` samples with hop ``L/2`` (wrap-padded to cover the whole file), each
frame is z-scored and described by the model's features, the GRU runs over **all** frames in order, and the
frames are synthesised with the loudness of the input frame (``"generic"``: frame RMS, ``"specific"``: RMS of
every band) and with carriers shifted by a random offset per frame.  Envelopes stay time-aligned with the
input; the frames are overlap-added with the power-complementary ``sqrt_hann`` window (their fine structures
are uncorrelated, so powers add).  Zero padding would put silence into the last frame and fade the end out.
Timbre transfer is the same call with a recording of another texture.

Hybrid models add their events on top of the bed: events are drawn hard on consecutive half-frame segments
(segment ``s`` follows the controls of frame ``min(s, F − 1)``), scaled to ``gain`` times the input's RMS through
the closed-form scale of the event process (:func:`~ddsp_textures.models.event_head.expected_event_rms`, so the
natural fluctuation of a few events per segment is kept), and the bed's band targets are the input's band powers
minus the events' expected band powers.
"""

from __future__ import annotations

import numpy as np
import torch

from .features import band_rms
from .framing import Window, half_overlap_frames, overlap_add, random_shifts, rms, wrap_pad, zscore
from .models import HybridModel, PVAEModel, TexDSP
from .models.event_head import expected_event_rms
from .synths.events import hard_events, join_frames, place_grains
from .synths.texenv import Loudness


@torch.no_grad()
def resynthesize(model: TexDSP | PVAEModel | HybridModel, audio: np.ndarray | torch.Tensor,
                 loudness: Loudness = "specific", seed: int = 0, window: Window = "sqrt_hann") -> np.ndarray:
    """Resynthesise (or timbre-transfer) a mono signal at the model's sample rate.

    P-VAE models take consecutive non-overlapping frames, hard Poisson events and the frame RMS of the input
    (``loudness`` is ignored); grain tails are carried across frames.  Hybrid models use ``"specific"``
    loudness for their bed (``loudness`` is ignored).
    Returns a float32 array of the input's length.
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    if x.dim() != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("input audio contains NaN or inf")
    if isinstance(model, PVAEModel):
        return _resynthesize_pvae(model, x, seed)
    if isinstance(model, HybridModel):
        return _resynthesize_hybrid(model, x, seed, window)
    length, hop = model.frame_size, model.frame_size // 2
    n = x.shape[0]
    frames = half_overlap_frames(x, length)                                     # (F, L)
    device = next(model.parameters()).device
    normed = zscore(frames).to(device)
    feats = [f.unsqueeze(0) for f in model.features(normed)]                    # (1, F, d)
    if loudness == "specific":
        target = band_rms(frames.to(device), model.bank).unsqueeze(0)
    else:
        target = frames.pow(2).mean(-1).sqrt().to(device).unsqueeze(0)
    shifts = random_shifts(frames.shape[0], length, torch.Generator().manual_seed(seed)).unsqueeze(0)
    out = model.synthesize(feats, loudness, target, shifts)[0]                  # (F, L)
    y = overlap_add(out.cpu(), hop, window)[:n]
    return y.numpy().astype(np.float32)


def _resynthesize_pvae(model: PVAEModel, x: torch.Tensor, seed: int) -> np.ndarray:
    length, n = model.frame_size, x.shape[0]
    n_frames = max(1, -(-n // length))
    frames = wrap_pad(x, n_frames * length).reshape(n_frames, length)
    device = next(model.parameters()).device
    feats = [f.unsqueeze(0) for f in model.features(zscore(frames).to(device))]
    target = frames.pow(2).mean(-1).sqrt().to(device)
    y = model.stream(feats, target, torch.Generator().manual_seed(seed))
    return y[:n].cpu().numpy().astype(np.float32)


def _hybrid_events(model: HybridModel, controls, x: torch.Tensor, n_frames: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Streamed events ``(n,)`` and the grains of every frame ``(F, K, m)``."""
    hop = model.frame_size // 2
    idx = torch.arange(n_frames + 1).clamp(max=n_frames - 1)                 # segment → frame
    rate, alpha, gain = controls.rate[0, idx], controls.alpha[0, idx], controls.gain[0, idx]
    grains = model.vae.decode(controls.latents[0, idx])                      # (F + 1, K, m)
    k = grains.shape[-2]
    events = hard_events((rate / k).unsqueeze(-1).expand(-1, k), alpha.unsqueeze(-1).expand(-1, k), hop,
                         model.fs, generator)
    segments, tails = place_grains(events, grains, circular=False)
    level = rms(wrap_pad(x, (n_frames + 1) * hop).reshape(n_frames + 1, hop)).to(rate.device)
    scale = (gain * level / expected_event_rms(rate, alpha, grains, model.fs)).unsqueeze(-1)
    return join_frames(segments * scale, tails * scale)[: x.shape[0]], grains[:n_frames]


def _resynthesize_hybrid(model: HybridModel, x: torch.Tensor, seed: int, window: Window) -> np.ndarray:
    length, hop, n = model.frame_size, model.frame_size // 2, x.shape[0]
    frames = half_overlap_frames(x, length)                                     # (F, L)
    device = next(model.parameters()).device
    feats = [f.unsqueeze(0) for f in model.features(zscore(frames).to(device))]
    coeffs, controls = model.controls(feats)
    generator = torch.Generator().manual_seed(seed)
    events, grains = _hybrid_events(model, controls, x.to(device), frames.shape[0], generator)
    # the bed gets what the events leave of each band's power (at least 1 % of it)
    padded = torch.nn.functional.pad(grains, (0, length - grains.shape[-1]))
    share = band_rms(padded, model.bank).pow(2).sum(-2)                      # (F, N)
    share = share / share.sum(-1, keepdim=True)
    frames = frames.to(device)
    target = band_rms(frames, model.bank).pow(2)
    event_power = (controls.gain[0] * rms(frames)).pow(2).unsqueeze(-1) * share
    bed_target = torch.maximum(target - event_power, 0.01 * target).sqrt().unsqueeze(0)
    shifts = random_shifts(frames.shape[0], length, generator).unsqueeze(0)
    bed = model.bed(coeffs, "specific", bed_target, shifts)[0]
    y = overlap_add(bed.cpu(), hop, window)[:n] + events.cpu()
    return y.numpy().astype(np.float32)
