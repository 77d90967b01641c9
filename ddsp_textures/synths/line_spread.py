"""Spreading a TexEnv envelope's power over neighbouring Fourier lines (book chapter: *DDSP training*,
*Generating new texture*).

A trained TexDSP or hybrid bed decodes nearly the same envelope in every frame, and that envelope's power sits in a
few of its ``P`` Fourier lines: the bed then pulses at the period of its strongest line (65–115 ms), which a
recording of rain or a forest does not do.  :func:`spread_lines` moves each line's power onto the lines within a
factor ``ratio`` of its frequency (weights ``∝ 1/k``, equal power per octave), keeping every line's phase and the
envelope's total power: a broader modulation spectrum, whose autocorrelation no longer comes back at one period.
A model applies it at inference only where its bed pulses alone
(:func:`~ddsp_textures.models.calibration.calibrate_line_spread`).
"""

from __future__ import annotations

import torch

SPREAD_RATIOS = (1.25, 1.5, 2.0, 3.0)   # the spreads calibration tries, narrowest first


def spread_kernel(n_coeffs: int, ratio: float) -> torch.Tensor:
    """``(P, P)`` power-spreading matrix: column ``j ≥ 1`` puts line ``j``'s power on the lines
    ``k ∈ [j / ratio, j · ratio]``, ``1 ≤ k < P``, with weights ``∝ 1/k`` summing to 1; DC stays where it is.
    ``ratio ≤ 1`` gives the identity.

    >>> k = spread_kernel(8, 2.0)
    >>> [round(float(v), 3) for v in k[:, 2]]
    [0.0, 0.48, 0.24, 0.16, 0.12, 0.0, 0.0, 0.0]
    >>> bool(torch.allclose(k.sum(0), torch.ones(8))), bool(torch.equal(spread_kernel(8, 1.0), torch.eye(8)))
    (True, True)
    """
    if n_coeffs < 1:
        raise ValueError(f"n_coeffs must be >= 1, got {n_coeffs}")
    if ratio <= 1:
        return torch.eye(n_coeffs)
    k = torch.arange(n_coeffs, dtype=torch.float64)
    j = k[1:].unsqueeze(0)                                                     # (1, P - 1): the lines spread
    inside = (k.unsqueeze(1) >= j / ratio) & (k.unsqueeze(1) <= j * ratio) & (k.unsqueeze(1) >= 1)
    weights = inside.double() / k.clamp_min(1).unsqueeze(1)
    kernel = torch.zeros(n_coeffs, n_coeffs, dtype=torch.float64)
    kernel[0, 0] = 1.0
    kernel[:, 1:] = weights / weights.sum(0, keepdim=True)
    return kernel.float()


def spread_lines(coeffs: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Envelope coefficients with each band's line powers mixed by ``kernel`` (:func:`spread_kernel`) and every
    line's phase kept; the total power of a band's lines is unchanged.

    Shape:
        ``coeffs (..., N, P)`` complex, ``kernel (P, P)`` → ``(..., N, P)``.

    >>> c = torch.zeros(1, 6, dtype=torch.complex64); c[0, 2] = 3.0
    >>> out = spread_lines(c, spread_kernel(6, 2.0))
    >>> round(float(out.abs().pow(2).sum()), 4), int((out.abs() > 0).sum())
    (9.0, 4)
    """
    power = (coeffs.real * coeffs.real + coeffs.imag * coeffs.imag) @ kernel.to(coeffs.real.dtype).T
    return torch.polar(power.clamp_min(0).sqrt(), torch.angle(coeffs))
