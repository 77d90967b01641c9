"""Network building blocks shared by the DDSP models and the grain VAE."""

from __future__ import annotations

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
