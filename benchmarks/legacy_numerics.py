"""The library's TexStat before its last two rounds, kept as the "previous" columns of the benchmarks; not
part of the library.

* :func:`previous_numerics` (``bench_resynthesis.py``): before the round that made TexStat 1.3-1.6x faster on
  a CPU (issue "Play it live", speed): envelope moments by ``pow(3)``/``pow(4)`` instead of products, and
  moduli by ``hypot``/``abs`` instead of one fused multiply-add.
* :func:`previous_texstat` (``bench_texstat.py``): before the Gram round, which takes S1's variances and S2's
  correlations from one Gram matrix of the centred envelopes, and S3-S5 from the Gram matrices of the
  modulation vectors, instead of normalising the signals first.
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



def _pairs(corr: torch.Tensor) -> torch.Tensor:
    """``texstat._upper_pairs`` (benchmarks call no library privates)."""
    k = corr.shape[-1]
    i, j = torch.triu_indices(k, k, 1, device=corr.device)
    return corr[..., i, j]


def previous_moments_and_correlations(env: torch.Tensor, alpha: Sequence[float], eps: float
                                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """S1 and S2 before the Gram round: the envelopes centred a second time and normalised for S2."""
    return texstat.envelope_moments(env, alpha, eps), _pairs(texstat.correlation_matrix(env))


def previous_modulation_statistics(dec_v: torch.Tensor, mod_v: torch.Tensor, t: int
                                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """S3 to S5 before the Gram round: from normalised modulation vectors, their norms by a separate
    reduction."""
    b = dec_v.shape[0]
    dec_std = torch.sqrt(dec_v.pow(2).sum(-1) / max(t - 1, 1) + EPS)
    mod_std = torch.sqrt(mod_v.pow(2).sum(-1) / max(t - 1, 1) + EPS)
    s3 = (mod_std / dec_std.unsqueeze(-1)).reshape(b, -1)
    z = mod_v / torch.sqrt(mod_v.pow(2).sum(-1, keepdim=True) + EPS)
    s4 = _pairs(z.transpose(1, 2) @ z.transpose(1, 2).transpose(-1, -2)).transpose(1, 2).reshape(b, -1)
    s5 = _pairs(z @ z.transpose(-1, -2)).transpose(1, 2).reshape(b, -1)
    return s3, s4, s5


@contextlib.contextmanager
def previous_texstat() -> Iterator[None]:
    """The library's TexStat as it was before its Gram round: the same spectra, its two statistics helpers
    swapped back (:func:`previous_moments_and_correlations`, :func:`previous_modulation_statistics`)."""
    saved = texstat._moments_and_correlations, texstat._modulation_statistics
    texstat._moments_and_correlations = previous_moments_and_correlations
    texstat._modulation_statistics = previous_modulation_statistics
    try:
        yield
    finally:
        texstat._moments_and_correlations, texstat._modulation_statistics = saved
