"""Multi-scale spectral (MSS) loss, the usual DDSP reconstruction loss (book chapter: *TexStat*)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .numerics import safe_log

DEFAULT_SCALES = (4096, 2048, 1024, 512, 256, 128)


def multiscale_spectrograms(x: torch.Tensor, scales: Sequence[int] = DEFAULT_SCALES,
                            overlap: float = 0.75) -> list[torch.Tensor]:
    """Magnitude STFTs (Hann window, normalised) at several FFT sizes.

    Shape:
        ``(B, L) -> [(B, n_fft//2 + 1, frames)]`` one tensor per scale.
    """
    if x.dim() == 1:
        x = x.unsqueeze(0)
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    out = []
    for n_fft in scales:
        hop = max(1, int(n_fft * (1 - overlap)))
        window = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
        spec = torch.stft(x, n_fft=n_fft, hop_length=hop, win_length=n_fft, window=window, center=True,
                          normalized=True, return_complex=True)
        out.append(spec.abs())
    return out


def multiscale_spectral_loss(x: torch.Tensor, y: torch.Tensor, scales: Sequence[int] = DEFAULT_SCALES,
                             overlap: float = 0.75, log_weight: float = 1.0) -> torch.Tensor:
    """``Σ_s mean|S_x − S_y| + log_weight · mean|log S_x − log S_y|`` (reference §5.5, eps 1e-7).

    >>> x = torch.randn(2, 8192)
    >>> float(multiscale_spectral_loss(x, x))
    0.0
    """
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    loss = x.new_zeros(())
    for sx, sy in zip(multiscale_spectrograms(x, scales, overlap), multiscale_spectrograms(y, scales, overlap),
                      strict=True):
        loss = loss + (sx - sy).abs().mean() + log_weight * (safe_log(sx) - safe_log(sy)).abs().mean()
    return loss


class MultiScaleSpectralLoss(nn.Module):
    """Module form of :func:`multiscale_spectral_loss`.

    Shape:
        ``(B, L), (B, L) -> ()``.
    """

    def __init__(self, scales: Sequence[int] = DEFAULT_SCALES, overlap: float = 0.75,
                 log_weight: float = 1.0) -> None:
        super().__init__()
        self.scales, self.overlap, self.log_weight = tuple(scales), overlap, log_weight

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return multiscale_spectral_loss(x, y, self.scales, self.overlap, self.log_weight)
