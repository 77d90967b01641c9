"""Fitting the grain VAE of a P-VAE model (book chapter: *P-VAE synth*): onset-aligned grains of the training
audio and the VAE's training loop.  Kept next to the trainer so that :mod:`ddsp_textures.synths` stays signal
processing only.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ddsp_textures.dsp.framing import float_tensor
from ddsp_textures.dsp.spectral import multiscale_spectral_loss
from ddsp_textures.stats.features import onset_candidates
from ddsp_textures.synths.pvae import GrainVAE


def extract_grains(audio: np.ndarray | torch.Tensor, fs: float, grain_size: int, max_grains: int = 512,
                   pre_onset: float = 0.002) -> torch.Tensor:
    """Onset-aligned grains of a recording, each normalised to unit peak: ``(n,) -> (G, grain_size)``.

    Onsets are :func:`ddsp_textures.stats.features.onset_candidates` (6 dB energy jumps within 2 ms, within 30 dB of
    the loudest hop) more than 5 ms apart; grains start ``pre_onset``
    seconds before the onset.  If fewer than 8 onsets are found, evenly spaced grains are taken instead.
    """
    x = float_tensor(audio)
    candidate, hop = onset_candidates(x, fs)
    cand = candidate.nonzero().flatten()
    keep = [int(c) for i, c in enumerate(cand) if i == 0 or c - cand[i - 1] > 5]
    starts = [k * hop - int(pre_onset * fs) for k in keep]
    starts = [s for s in starts if 0 <= s <= x.shape[-1] - grain_size]
    if len(starts) < 8:
        starts = list(range(0, x.shape[-1] - grain_size + 1, max(1, grain_size // 2)))
    if not starts:
        raise ValueError(f"audio of {x.shape[-1]} samples is shorter than one grain ({grain_size})")
    starts = starts[:max_grains]
    grains = torch.stack([x[s : s + grain_size] for s in starts])
    return grains / (grains.abs().amax(-1, keepdim=True) + 1e-8)


def train_grain_vae(vae: GrainVAE, grains: torch.Tensor, epochs: int = 30, batch_size: int = 32, lr: float = 2e-3,
                    beta: float = 0.01, seed: int = 0, progress: bool = True) -> list[float]:
    """Fit the VAE to grains with ``MSS(reconstruction, grain) + β·KL``; returns the loss per epoch.  A
    ``"dictionary"`` VAE whose dictionary is still empty first takes its atoms from these grains
    (:meth:`~ddsp_textures.synths.pvae.GrainVAE.set_dictionary`)."""
    if len(grains) < 2:
        raise ValueError("need at least 2 grains to train the grain VAE")
    if vae.decoder_kind == "dictionary" and not bool(vae.dictionary.abs().amax() > 0):
        vae.set_dictionary(grains, torch.Generator().manual_seed(seed))
    device = vae.device
    grains = grains.to(device)
    optimiser = torch.optim.Adam(vae.parameters(), lr=lr)
    scales = tuple(s for s in (1024, 512, 256, 128, 64) if s <= vae.grain_size // 2)
    generator = torch.Generator().manual_seed(seed)
    history = []
    vae.train()
    for _ in tqdm(range(epochs), desc="grain VAE", disable=not progress, unit="epoch"):
        order = torch.randperm(len(grains), generator=generator)
        total = 0.0
        for idx in order.split(batch_size):
            batch = grains[idx.to(device)]
            recon, mu, logvar = vae(batch)
            loss = multiscale_spectral_loss(batch, recon, scales) + beta * vae.kl(mu, logvar).mean()
            if not torch.isfinite(loss):
                raise FloatingPointError("grain VAE loss is not finite; lower the learning rate")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 5.0)
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(grains))
    vae.eval()
    return history
