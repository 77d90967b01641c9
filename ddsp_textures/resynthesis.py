"""Resynthesis and timbre transfer with a trained run (book chapters: *DDSP training*, *P-VAE synth*).

The input is cut in frames of ``L`` samples with hop ``L/2`` (wrap-padded to cover the whole file), each
frame is z-scored and described by the model's features, the GRU runs over **all** frames in order, and the
frames are synthesised with the loudness of the input frame (``"generic"``: frame RMS, ``"specific"``: RMS of
every band) and with carriers shifted by a random offset per frame.  Envelopes stay time-aligned with the
input; the frames are overlap-added with the power-complementary ``sqrt_hann`` window (their fine structures
are uncorrelated, so powers add).  Zero padding would put silence into the last frame and fade the end out.
Timbre transfer is the same call with a recording of another texture.
"""

from __future__ import annotations

import numpy as np
import torch

from .features import band_rms
from .framing import half_overlap_frames, overlap_add, random_shifts, wrap_pad, zscore
from .models import PVAEModel, TexDSP
from .synths.texenv import Loudness


@torch.no_grad()
def resynthesize(model: TexDSP | PVAEModel, audio: np.ndarray | torch.Tensor, loudness: Loudness = "specific",
                 seed: int = 0) -> np.ndarray:
    """Resynthesise (or timbre-transfer) a mono signal at the model's sample rate.

    P-VAE models take consecutive non-overlapping frames, hard Poisson events and the frame RMS of the input
    (``loudness`` is ignored); grain tails are carried across frames.
    Returns a float32 array of the input's length.
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    if x.dim() != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("input audio contains NaN or inf")
    if isinstance(model, PVAEModel):
        return _resynthesize_pvae(model, x, seed)
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
    y = overlap_add(out.cpu(), hop, "sqrt_hann")[:n]
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
