"""The library's numerics before the round that made TexStat 1.3-1.6x faster on a CPU (issue "Play it live",
speed): envelope moments by ``pow(3)``/``pow(4)`` instead of products, and moduli by ``hypot``/``abs`` instead
of one fused multiply-add.  Kept as the "previous" columns of ``bench_texstat.py`` and ``bench_resynthesis.py``;
not part of the library.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from ddsp_textures.dsp import baseband, filterbanks
from ddsp_textures.dsp.numerics import EPS
from ddsp_textures.stats import texstat


def previous_moments(env: torch.Tensor, alpha: Sequence[float] = texstat.DEFAULT_ALPHA, eps: float = EPS
                     ) -> torch.Tensor:
    """``envelope_moments`` before its last round (powers instead of products)."""
    t = env.shape[-1]
    mu = env.mean(dim=-1)
    centred = env - mu.unsqueeze(-1)
    var = centred.pow(2).sum(dim=-1) / max(t - 1, 1)
    var_eps = var + eps
    cv2 = var / (mu.pow(2) + eps)
    skew = centred.pow(3).mean(dim=-1) / var_eps.pow(1.5)
    kurt = centred.pow(4).mean(dim=-1) / var_eps.pow(2)
    weights = torch.tensor(alpha, dtype=env.dtype, device=env.device)
    return torch.stack([mu, cv2, skew, kurt], dim=-1) * weights


def previous_modulus(z: torch.Tensor) -> torch.Tensor:
    """``numerics.modulus`` before its last round."""
    return z.abs() if z.requires_grad else torch.hypot(z.real, z.imag)


@contextlib.contextmanager
def previous_numerics() -> Iterator[None]:
    """The library's TexStat as it was before its last round (see the module docstring)."""
    saved = texstat.envelope_moments, filterbanks.modulus, baseband.modulus
    texstat.envelope_moments = previous_moments
    filterbanks.modulus = baseband.modulus = previous_modulus
    try:
        yield
    finally:
        texstat.envelope_moments, filterbanks.modulus, baseband.modulus = saved
