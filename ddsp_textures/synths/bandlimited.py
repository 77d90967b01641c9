"""Band-limited TexEnv synthesis: each band's product ``env_n · carrier_n`` computed on a short grid and added
to the output *spectrum* (book chapter: *TexEnv synth*, section *Fast synthesis*).

The product of an envelope with ``P`` coefficients and a carrier whose spectrum occupies bins ``[a, b]``
occupies bins ``[a − P + 1, b + P − 1]`` only.  Write the carrier as the real part of its analytic signal,
``c = Re z`` with ``z(t) = e^{2πi a t/L} u(t)``, where the baseband ``u`` holds the ``w = b − a + 1`` bins of
the band.  Then ``env · c = Re(e^{2πi a t/L} · env · u)`` and ``env · u`` has bandwidth ``w + 2P − 2`` bins,
so it is *exactly* represented by ``M ≥ w + 2P − 2`` samples (``t = mL/M``): an ``M``-point inverse FFT of
the coefficients, a product with the precomputed baseband carrier, an ``M``-point FFT, and its bins added at
``a + j`` into one spectrum of the frame, which a single ``L``-point inverse FFT turns into the output.  For
``L = 32768``, 16 ERB bands and ``P = 128`` that is ``Σ M = 48 640`` samples of per-band work instead of
``N·L = 524 288``.  Bands are grouped by their (power-of-two) ``M``: one batched FFT per group.

A carrier shift (the item's ``shift``) is applied to the envelope instead — ``env(t)·c(t − s) =
ỹ(t − s)`` with ``ỹ(t) = env(t + s)·c(t)`` — as a phase ramp on the ``P`` coefficients and one on the
output spectrum.
"""

from __future__ import annotations

import math
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import torch

SUPPORT_FLOOR = 1e-6      # carrier bins below this fraction of the band's peak magnitude count as empty


@dataclass
class _Group:
    """Bands sharing one grid size ``M``: their baseband carriers ``(G, M)`` (scaled by ``M/L``) and the
    output bins ``(G·M,)`` (mod ``L``) of their product FFTs."""

    bands: torch.Tensor
    size: int
    baseband: torch.Tensor
    bins: torch.Tensor


_PLANS: OrderedDict[tuple, tuple[weakref.ref, list[_Group]]] = OrderedDict()
_MAX_PLANS = 8


def _plan(carriers: torch.Tensor, n_coeffs: int, dtype: torch.dtype) -> list[_Group]:
    """Per-band supports, grid sizes and baseband carriers of a carrier set (cached by tensor identity and
    version, so :meth:`TexEnvSynth.shape_carriers` invalidates it; a weak reference makes sure that a new
    tensor that happens to reuse a freed one's memory is not taken for it)."""
    key = (carriers.data_ptr(), carriers._version, tuple(carriers.shape), carriers.dtype, str(carriers.device),
           n_coeffs, dtype)
    if key in _PLANS and _PLANS[key][0]() is carriers:
        _PLANS.move_to_end(key)
        return _PLANS[key][1]
    length = carriers.shape[-1]
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    spectrum = torch.fft.rfft(carriers.detach().to(torch.float64), dim=-1)       # (N, L/2 + 1)
    analytic = spectrum * 2
    analytic[:, 0] = spectrum[:, 0]
    analytic[:, -1] = spectrum[:, -1]
    magnitude = spectrum.abs()
    occupied = magnitude > SUPPORT_FLOOR * magnitude.amax(-1, keepdim=True).clamp_min(1e-300)
    n_bins = spectrum.shape[-1]
    first = occupied.to(torch.int64).argmax(-1)
    last = n_bins - 1 - occupied.flip(-1).to(torch.int64).argmax(-1)
    width = (last - first + 1).clamp_min(1)
    sizes = [2 ** math.ceil(math.log2(max(2, int(w) + 2 * n_coeffs - 2))) for w in width.tolist()]
    groups = []
    for size in sorted(set(sizes)):
        bands = torch.tensor([n for n, s in enumerate(sizes) if s == size], device=carriers.device)
        offsets = torch.arange(size, device=carriers.device)
        base = torch.zeros(len(bands), size, dtype=torch.complex128, device=carriers.device)
        for row, n in enumerate(bands.tolist()):                        # once per carrier set, not per call
            w = int(width[n])
            base[row, :w] = analytic[n, int(first[n]):int(first[n]) + w]
        baseband = torch.fft.ifft(base, dim=-1) * (size / length)              # u at t = mL/M: (M/L)·ifft_M
        rel = torch.where(offsets < size - n_coeffs + 1, offsets, offsets - size)   # FFT bin r -> offset j
        bins = ((first[bands].unsqueeze(-1) + rel) % length).reshape(-1)
        groups.append(_Group(bands, size, baseband.to(complex_dtype), bins))
    _PLANS[key] = (weakref.ref(carriers), groups)
    while len(_PLANS) > _MAX_PLANS:
        _PLANS.popitem(last=False)
    return groups


def _phase_ramp(shifts: torch.Tensor, n_bins: int, length: int, dtype: torch.dtype) -> torch.Tensor:
    """``exp(2πi·s·k/L)`` for ``k < n_bins``, with ``s·k`` reduced mod ``L`` in integers first (a float32
    angle of ``2π·s·k/L`` for ``s, k`` in the tens of thousands is off by milliradians).

    Shape:
        ``shifts (B,)`` int64 → ``(B, n_bins)`` complex.
    """
    k = torch.arange(n_bins, device=shifts.device, dtype=torch.int64)
    turns = (shifts[:, None] * k) % length
    return torch.polar(torch.ones((), dtype=dtype, device=shifts.device), turns.to(dtype) * (2 * math.pi / length))


def bandlimited_sum(coeffs: torch.Tensor, carriers: torch.Tensor, shifts: torch.Tensor | None = None
                    ) -> torch.Tensor:
    """``Σ_n env_n · roll(carrier_n, shift)`` with ``env_n = irfft(√L·coeffs_n, L)``: the same values as
    :func:`~ddsp_textures.synths.texenv_synthesis` (to float rounding), through per-band short grids.

    Shape:
        ``coeffs (..., N, P)`` complex, ``carriers (N, L)``, ``shifts (...)`` integer → ``(..., L)``.

    >>> import torch
    >>> from ddsp_textures.dsp.filterbanks import erb_bank
    >>> from ddsp_textures.synths import make_carriers, texenv_synthesis
    >>> carriers = make_carriers(erb_bank(4096, 16000, 8), torch.Generator().manual_seed(0)).double()
    >>> c = torch.randn(2, 8, 16, dtype=torch.complex128, generator=torch.Generator().manual_seed(1))
    >>> bool(torch.allclose(bandlimited_sum(c, carriers), texenv_synthesis(c, carriers), atol=1e-6))
    True
    """
    length, n_bands = carriers.shape[-1], carriers.shape[0]
    n_coeffs = coeffs.shape[-1]
    lead = coeffs.shape[:-2]
    flat = coeffs.reshape(-1, n_bands, n_coeffs)
    real_dtype = flat.real.dtype
    n_items = flat.shape[0]
    x = flat * math.sqrt(length)
    if shifts is not None:
        shifts = shifts.reshape(-1).to(flat.device, torch.int64)
        x = x * _phase_ramp(shifts, n_coeffs, length, real_dtype).unsqueeze(1)          # env(t + s)
    ext = torch.zeros(n_items, length, dtype=x.dtype, device=flat.device)
    for group in _plan(carriers, n_coeffs, real_dtype):
        # env at t = mL/M is (M/L)·irfft_M and the product's bins are (L/M)·fft_M: the two factors cancel
        env = torch.fft.irfft(x[:, group.bands], n=group.size, dim=-1)                        # (B, G, M)
        product = torch.fft.fft(env * group.baseband, dim=-1)
        ext = ext.index_add(1, group.bins, product.reshape(n_items, -1))
    k = torch.arange(length // 2 + 1, device=flat.device)
    spectrum = 0.5 * (ext[:, k] + ext[:, (-k) % length].conj())
    if shifts is not None:
        spectrum = spectrum * _phase_ramp(-shifts, length // 2 + 1, length, real_dtype)
    return torch.fft.irfft(spectrum, n=length, dim=-1).reshape(*lead, length)
