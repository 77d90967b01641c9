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
    k = corr.shape[-1]
    i, j = torch.triu_indices(k, k, 1, device=corr.device)
    return corr[..., i, j]


def _vectors(spectrum: torch.Tensor, length: int) -> torch.Tensor:
    """Parseval vectors of one-sided spectra (the library's, as it was)."""
    k = spectrum.shape[-1]
    weights = torch.full((k - 1,), 2.0 / length, dtype=spectrum.real.dtype, device=spectrum.device)
    real, imag = spectrum[..., 1:].real, spectrum[..., 1:].imag
    if length % 2 == 0 and k == length // 2 + 1:
        weights[-1] = 1.0 / length
        imag = torch.cat([imag[..., :-1], torch.zeros_like(imag[..., -1:])], dim=-1)
    root = weights.sqrt()
    return torch.cat([real * root, imag * root], dim=-1)


def _spectral_parts(ts: texstat.TexStat, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Envelopes, decimated-envelope spectrum and modulation-band spectra (unchanged by the Gram round)."""
    length, t = ts.frame_size, ts.frame_size // ts.factor
    env = ts.cochlear.envelopes(x)
    k = t // 2 + 1
    dec = torch.fft.rfft(env, dim=-1)[..., :k] * (t / length)
    if t % 2 == 0:
        dec = torch.cat([dec[..., :-1], (2 * dec[..., -1:].real).to(dec.dtype)], dim=-1)
    g = ts.modulation.filters[1:-1]
    g = g[:, : int(torch.nonzero(g.abs().amax(0) > 0).max()) + 1].to(device=x.device, dtype=x.dtype)
    return env, dec, dec[..., : g.shape[-1]].unsqueeze(-2) * g


def previous_statistics(ts: texstat.TexStat, x: torch.Tensor) -> list[torch.Tensor]:
    """``TexStat``'s statistics before its Gram round: S1 and S2 by a second centring and a normalisation of
    the envelopes, S3 to S5 from normalised modulation vectors (their norms by a separate reduction)."""
    env, dec, mod = _spectral_parts(ts, x)
    b, t = x.shape[0], ts.frame_size // ts.factor
    s1 = texstat.envelope_moments(env, ts.alpha, ts.eps)
    s2 = _pairs(texstat.correlation_matrix(env))
    dec_v, mod_v = _vectors(dec, t), _vectors(mod, t)
    dec_std = torch.sqrt(dec_v.pow(2).sum(-1) / max(t - 1, 1) + EPS)
    mod_std = torch.sqrt(mod_v.pow(2).sum(-1) / max(t - 1, 1) + EPS)
    s3 = (mod_std / dec_std.unsqueeze(-1)).reshape(b, -1)
    z = mod_v / torch.sqrt(mod_v.pow(2).sum(-1, keepdim=True) + EPS)
    s4 = _pairs(z.transpose(1, 2) @ z.transpose(1, 2).transpose(-1, -2)).transpose(1, 2).reshape(b, -1)
    s5 = _pairs(z @ z.transpose(-1, -2)).transpose(1, 2).reshape(b, -1)
    return [s1, s2, s3, s4, s5]


@contextlib.contextmanager
def previous_texstat() -> Iterator[None]:
    """The library's TexStat as it was before its Gram round (:func:`previous_statistics`)."""
    saved = texstat.TexStat._statistics
    texstat.TexStat._statistics = previous_statistics
    try:
        yield
    finally:
        texstat.TexStat._statistics = saved
