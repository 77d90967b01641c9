"""Network building blocks shared by the DDSP models and the grain VAE."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_size: int, hidden: int, depth: int) -> nn.Sequential:
    """``depth`` × [Linear, LayerNorm, LeakyReLU] (the reference's building block).

    Shape:
        ``(..., in_size) -> (..., hidden)``.
    """
    if depth < 1:
        raise ValueError(f"MLP depth must be >= 1, got {depth}")
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_size if i == 0 else hidden, hidden), nn.LayerNorm(hidden), nn.LeakyReLU()]
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def networks_autocast(device: torch.device, dtype: torch.dtype | None):
    """Mixed precision for the *networks* (encoder MLPs, GRU, decoders): ``torch.autocast`` to ``dtype`` (e.g.
    bf16 on a GPU), a no-op when ``dtype`` is ``None``.  Synths and TexStat stay outside it, in float32: FFT
    statistics of 16-bit signals are not accurate enough (config key ``mixed_precision``)."""
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)
