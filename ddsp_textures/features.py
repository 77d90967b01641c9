"""Frame features fed to the DDSP encoders (book chapter: *DDSP training*).

All features are computed with the *same* cochlear filterbank as the synth and the loss (the reference
used a 20 Hz..fs/2 bank for training features whatever the configured limits, spec §12 item 4), over the
whole frame (the reference's centroid looked only at the first half, item 9), and are already scaled to
O(1) ranges so that ``Linear + LayerNorm`` encoders can see them (item 3).

===================  =====  ==========================================================================
name                 dim    definition
===================  =====  ==========================================================================
``energy_bands``     N      log10 of the RMS of each cochlear subband (``log10(rms + 1e-5)``)
``centroid``         1      ERB-number of the band-energy centroid divided by the ERB-number of fs/2
``rate``             1      onsets per second / 10 (soft count of 5 dB energy jumps, pre-emphasised)
===================  =====  ==========================================================================
"""

from __future__ import annotations

import torch

from .filterbanks import FilterBank, erb_number
from .numerics import safe_divide

FEATURES = ("energy_bands", "centroid", "rate")


def band_rms(x: torch.Tensor, bank: FilterBank) -> torch.Tensor:
    """Linear RMS of each cochlear subband: ``(..., L) -> (..., N)``."""
    return torch.sqrt(bank(x).pow(2).mean(-1) + 1e-12)


def energy_bands(x: torch.Tensor, bank: FilterBank) -> torch.Tensor:
    """``log10`` band RMS: ``(..., L) -> (..., N)``."""
    return torch.log10(band_rms(x, bank) + 1e-5)


def spectral_centroid(x: torch.Tensor, bank: FilterBank) -> torch.Tensor:
    """Normalised centroid of the band powers on the ERB scale, in [0, 1]: ``(..., L) -> (..., 1)``.

    >>> from ddsp_textures.filterbanks import erb_bank
    >>> bank = erb_bank(4096, 16000, 16)
    >>> t = torch.arange(4096) / 16000
    >>> low = spectral_centroid(torch.sin(2 * torch.pi * 200 * t), bank)
    >>> high = spectral_centroid(torch.sin(2 * torch.pi * 4000 * t), bank)
    >>> bool(low < high)
    True
    """
    power = bank(x).pow(2).mean(-1)
    centres = erb_number(bank.centre_frequencies).to(x.device, x.dtype)
    centroid = safe_divide((power * centres).sum(-1), power.sum(-1))
    return (centroid / float(erb_number(bank.fs / 2))).unsqueeze(-1)


def onset_rate(x: torch.Tensor, fs: float, hop: int = 256, context: int = 8, threshold: float = 0.5,
               sharpness: float = 20.0) -> torch.Tensor:
    """Soft count of onsets per second, divided by 10: ``(..., L) -> (..., 1)``.

    The pre-emphasised signal (first difference, which removes low rumble) is cut in hops of ``hop``
    samples; an onset is a hop whose log10-energy exceeds the mean of the ``context`` previous hops
    (circularly) by ``threshold`` (0.5 = 5 dB).  Rising edges of ``sigmoid(sharpness·excess)`` are summed, so
    the count is differentiable.  Steady noise (wind) counts ≈ 0; isolated clicks count one each.
    """
    n = x.shape[-1] // hop
    if n <= context:
        raise ValueError(f"onset_rate needs more than {context * hop} samples, got {x.shape[-1]}")
    emphasised = x - torch.roll(x, 1, -1)
    frames = emphasised[..., : n * hop].reshape(*x.shape[:-1], n, hop)
    log_e = torch.log10(frames.pow(2).mean(-1) + 1e-8)                      # (..., n)
    padded = torch.cat([log_e[..., -context:], log_e], dim=-1)
    background = padded.unfold(-1, context, 1)[..., :n, :].mean(-1)          # previous `context` hops
    above = torch.sigmoid(sharpness * (log_e - background - threshold))
    onsets = torch.relu(above - torch.roll(above, 1, -1)).sum(-1, keepdim=True)
    return onsets / (x.shape[-1] / fs) / 10.0


def feature_dims(names: list[str] | tuple[str, ...], n_bands: int) -> list[int]:
    """Dimension of each named feature."""
    return [n_bands if name == "energy_bands" else 1 for name in names]


def compute_features(x: torch.Tensor, names: list[str] | tuple[str, ...], bank: FilterBank) -> list[torch.Tensor]:
    """The named features of a batch of frames ``(..., L)``, one ``(..., dim)`` tensor each."""
    out = []
    for name in names:
        if name == "energy_bands":
            out.append(energy_bands(x, bank))
        elif name == "centroid":
            out.append(spectral_centroid(x, bank))
        elif name == "rate":
            out.append(onset_rate(x, bank.fs))
        else:
            raise ValueError(f"unknown feature {name!r}; choose from {', '.join(FEATURES)}")
    return out
