"""The feature encoder shared by the DDSP models (book chapter: *DDSP training*): the model's own cochlear
filterbank for its input features, one MLP per feature, and a GRU over consecutive frames of a recording.

Unlike the reference, the GRU runs over **consecutive frames of one recording** (``(B, S, ·)`` with ``S`` frames
in time), never over the batch axis, so training and inference see the same kind of sequence; inference on a
long recording runs the GRU over all of its frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ddsp_textures.dsp.filterbanks import FilterBank, erb_bank
from ddsp_textures.nn import mlp, networks_autocast
from ddsp_textures.stats.features import FEATURES, compute_features, feature_dims


class FeatureEncoder(nn.Module):
    """Features of audio frames → per-feature MLPs → GRU over frames → latent ``[h_1, …, h_F, z]``.

    Args:
        features: names of the encoder inputs (see :mod:`ddsp_textures.stats.features`).
        frame_size, fs: frame length and sample rate.
        n_bands: cochlear bands ``N`` of the features' filterbank; ``low``/``high`` its limits.
        hidden, depth: size and depth of each feature's MLP (the GRU has ``hidden`` units too).

    Shape:
        ``forward(features)``: list of ``(B, S, dim_i)`` → ``(latent (B, S, (F + 1)·hidden), state)``.

    >>> enc = FeatureEncoder(["centroid"], 4096, 16000, 8, hidden=16, depth=1)
    >>> latent, _ = enc(enc.features(torch.randn(2, 3, 4096)))
    >>> tuple(latent.shape), enc.latent_size
    ((2, 3, 32), 32)
    """

    def __init__(self, features: Sequence[str], frame_size: int, fs: float, n_bands: int, hidden: int = 128,
                 depth: int = 2, low: float = 20.0, high: float | None = None) -> None:
        super().__init__()
        self.feature_names = tuple(features)
        if not self.feature_names:
            raise ValueError("features must name at least one feature")
        unknown = [name for name in self.feature_names if name not in FEATURES]
        if unknown:
            raise ValueError(f"unknown feature {unknown[0]!r} in features; choose from {', '.join(FEATURES)}")
        self.bank: FilterBank = erb_bank(frame_size, fs, n_bands, low, high)
        dims = feature_dims(self.feature_names, n_bands)
        self.mlps = nn.ModuleList(mlp(d, hidden, depth) for d in dims)
        self.gru = nn.GRU(len(dims) * hidden, hidden, batch_first=True)
        self.latent_size = (len(dims) + 1) * hidden
        self.network_dtype: torch.dtype | None = None      # mixed precision of the networks (set by the trainer)

    def features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Encoder inputs of audio frames ``(..., L)`` computed with the encoder's filterbank."""
        return compute_features(frames, self.feature_names, self.bank)

    def forward(self, features: Sequence[torch.Tensor], state: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if len(features) != len(self.mlps):
            raise ValueError(f"expected {len(self.mlps)} features ({', '.join(self.feature_names)}), "
                             f"got {len(features)}")
        with networks_autocast(features[0].device, self.network_dtype):
            hidden = [net(f) for net, f in zip(self.mlps, features, strict=True)]
            z, state = self.gru(torch.cat(hidden, dim=-1), state)
            latent = torch.cat(hidden + [z], dim=-1)
        return latent.float(), state.float()
