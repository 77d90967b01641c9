"""Bands on their own small grid: a band-pass signal of ``W`` rfft bins, shifted down to 0 Hz, is known from
``M ≥ W`` samples, so its analytic signal costs an FFT of ``M`` instead of ``L`` (book chapter: *Filterbanks
and envelopes*, section *Envelopes on a small grid*).

A band of the cochlear bank occupies the bins ``lo … hi`` of the ``L // 2 + 1`` rfft bins (``W = hi − lo + 1``;
16 ERB bands of ``L = 2¹⁵`` at 44.1 kHz: 129 to 6799 bins).  Its analytic signal is
``a(t) = (1/L) Σ_k A_k e^{2πikt/L}`` over those bins only; sampled at ``t = mL/M`` it is
``e^{2πi·lo·m/M} · (M/L) · ifft_M(A_lo, …, A_hi, 0, …)[m]`` — exact, for any ``M ≥ W``.  The Hilbert envelope
``|a|`` is therefore exact at those ``M`` samples, and its Fourier coefficients below ``M/2`` are
``rfft_L(|a|)[k] ≈ (L/M)·rfft_M(|a|_M)[k]``, off only by the envelope's energy above ``M/2`` (the modulus is
not band-limited) folding back.  With ``M ≥ 4W`` the first 128 coefficients of real recordings' envelopes
move by 0.02–0.3 % (RMS, relative, per band), at a tenth of the cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ddsp_textures.dsp.numerics import modulus

OVERSAMPLE = 4.0


def smooth_size(n: int) -> int:
    """The smallest integer ``≥ n`` whose only prime factors are 2, 3 and 5 (a fast FFT size).

    >>> [smooth_size(n) for n in (1, 7, 97, 1025)]
    [1, 8, 100, 1080]
    """
    m = max(1, int(n))
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


@dataclass(frozen=True)
class BasebandGroup:
    """Bands that share one grid of ``size`` samples: their indices ``(G,)``, and for each the rfft bin of its
    baseband bins ``(G, W)`` with a mask of the bins inside the band (``W`` is the group's widest band)."""

    size: int
    bands: torch.Tensor
    index: torch.Tensor
    inside: torch.Tensor


def baseband_groups(responses: torch.Tensor, length: int, oversample: float = OVERSAMPLE,
                    min_size: int = 1) -> list[BasebandGroup]:
    """Group the bands of ``responses (N, F)`` (non-zero on each band's bins; the rfft of ``length`` samples) by
    their grid size: the smallest fast size ≥ ``max(oversample · W, min_size)``, or ``length`` itself where
    that is smaller (the full grid, exact).

    >>> from ddsp_textures.dsp.filterbanks import erb_bank
    >>> groups = baseband_groups(erb_bank(32768, 44100, 4).one_sided, 32768)
    >>> [(g.size, g.bands.tolist()) for g in groups]
    [(3750, [0]), (9216, [1]), (22500, [2]), (32768, [3])]
    """
    if responses.dim() != 2:
        raise ValueError(f"expected band responses (N, F), got shape {tuple(responses.shape)}")
    supports = []
    for row in responses:
        nz = torch.nonzero(row).flatten()
        if nz.numel() == 0:
            raise ValueError("a band has no non-zero bin")
        lo, hi = int(nz[0]), int(nz[-1])
        size = smooth_size(max(math.ceil(oversample * (hi - lo + 1)), min_size))
        supports.append((lo, hi - lo + 1, min(size, length)))
    groups = []
    for size in sorted({s for _, _, s in supports}):
        members = [b for b, (_, _, s) in enumerate(supports) if s == size]
        width = max(supports[b][1] for b in members)
        offsets = torch.arange(width)
        index = torch.stack([(supports[b][0] + offsets).clamp_max(responses.shape[-1] - 1) for b in members])
        inside = torch.stack([offsets < supports[b][1] for b in members])
        groups.append(BasebandGroup(size, torch.tensor(members), index, inside))
    return groups


def band_weights(responses: torch.Tensor, group: BasebandGroup) -> torch.Tensor:
    """The responses on a group's baseband bins ``(G, W)``, zero outside each band."""
    rows = responses[group.bands.to(responses.device)]
    picked = torch.gather(rows, -1, group.index.to(responses.device))
    return picked * group.inside.to(responses.device)


def envelope_coefficients(x: torch.Tensor, bank: torch.nn.Module, n_coeffs: int,
                          oversample: float = OVERSAMPLE) -> torch.Tensor:
    """First ``n_coeffs`` rfft coefficients (``norm="ortho"`` over ``L``) of each band's Hilbert envelope,
    ``rfft(bank.envelopes(x), norm="ortho")[..., :n_coeffs]``, computed on each band's own grid of
    ``M ≥ oversample · W`` samples (module docstring): the envelope's content above ``M/2`` folds back,
    0.02–0.3 % of the coefficients' RMS on real recordings at the default (the most in the low bands).

    Shape:
        ``(..., L) -> (..., N, n_coeffs)`` complex.

    >>> from ddsp_textures.dsp.filterbanks import erb_bank
    >>> bank = erb_bank(4096, 16000, 8)
    >>> x = torch.randn(3, 4096, dtype=torch.float64)
    >>> full = torch.fft.rfft(bank.envelopes(x), norm="ortho")[..., :64]
    >>> c = envelope_coefficients(x, bank, 64)
    >>> float((c - full).abs().pow(2).sum().sqrt() / full.abs().pow(2).sum().sqrt()) < 0.01
    True
    """
    length = bank.length
    if n_coeffs < 1 or n_coeffs > length // 2 + 1:
        raise ValueError(f"n_coeffs must be in [1, {length // 2 + 1}], got {n_coeffs}")
    bank._check_input(x)
    spectrum = torch.fft.rfft(x, dim=-1)                                              # (..., F)
    responses = bank.one_sided.to(device=x.device, dtype=x.dtype)
    out = torch.empty(*x.shape[:-1], bank.n_bands, n_coeffs, dtype=spectrum.dtype, device=x.device)
    for group, spectra in envelope_spectra(spectrum, responses, length, oversample, min_size=4 * n_coeffs):
        out[..., group.bands.to(x.device), :] = spectra[..., :n_coeffs] / math.sqrt(length)
    return out


def envelope_spectra(spectrum: torch.Tensor, responses: torch.Tensor, length: int,
                     oversample: float = OVERSAMPLE, min_size: int = 1
                     ) -> Iterator[tuple[BasebandGroup, torch.Tensor]]:
    """For each group of :func:`baseband_groups`, the rfft of its bands' Hilbert envelopes on the group's grid
    of ``M`` samples, on the scale of the full grid: ``rfft_M(|ifft_M(bins)|)[k] ≈ rfft_L(|a|)[k]`` for
    ``k < M/2`` (module docstring).  ``spectrum`` is the rfft of frames of ``length`` samples and ``responses``
    the bands' one-sided responses (:attr:`FilterBank.one_sided`).

    Shape:
        ``spectrum (..., F)``, ``responses (N, F)`` → per group ``(..., G, M // 2 + 1)`` complex.
    """
    for group in baseband_groups(responses, length, oversample, min_size):
        bins = spectrum[..., group.index.to(spectrum.device)] * band_weights(responses, group)  # (..., G, W)
        envelope = modulus(torch.fft.ifft(bins, n=group.size, dim=-1))               # (L/M)·|a| at M points
        yield group, torch.fft.rfft(envelope, dim=-1)
