"""TexEnv synth: amplitude envelopes, given by their first ``P`` Fourier coefficients, imposed on
envelope-flattened subbands of white noise (book chapter: *TexEnv synth*).

For band ``n`` with complex coefficients ``C_n[0..P-1]`` the envelope is the L-periodic trigonometric
polynomial ``env_n = irfft([C_n, 0, ..., 0], norm="ortho")`` and the output is ``y = Σ_n env_n · carrier_n``,
where the ``N`` *carriers* are fixed noise signals with a flat Hilbert envelope and exactly their band's magnitude
response (:func:`make_carriers`).  ``param_per_env = 2·P`` real numbers describe one band.

Two names, two quantities: ``param_per_env`` (real parameters per band, even) is what configs, constructors and
:func:`texenv_resynthesize` take; ``n_coeffs = P = param_per_env // 2`` (complex coefficients per band) is what
:func:`texenv_analysis` returns and what the synth modules expose as ``n_coeffs``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from ddsp_textures._deprecated import renamed
from ddsp_textures.dsp.filterbanks import FilterBank
from ddsp_textures.dsp.framing import rms
from ddsp_textures.synths.bandlimited import bandlimited_sum
from ddsp_textures.synths.carriers import make_carriers

Loudness = Literal["none", "generic", "specific"]

def envelopes_from_coefficients(coeffs: torch.Tensor, length: int) -> torch.Tensor:
    """Band envelopes from low-order coefficients (inverse rfft of the zero-padded spectrum, ortho).

    Shape:
        ``(..., N, P)`` complex ``-> (..., N, L)``.
    """
    if length % 2:
        raise ValueError(f"TexEnv needs an even frame length, got {length}")
    if coeffs.shape[-1] > length // 2 + 1:
        raise ValueError(f"{coeffs.shape[-1]} coefficients do not fit a frame of {length} samples")
    # ortho scaling applied to the P coefficients, not the L output samples (≈ 15 % faster, same values);
    # irfft zero-pads to n itself
    return torch.fft.irfft(coeffs * math.sqrt(length), n=length, dim=-1)


def roll_carriers(carriers: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """The carriers circularly delayed by ``shifts[...]`` samples, one shift per item (valid because the carriers
    are L-periodic): ``out[..., n, t] = carriers[n, (t - shift) mod L]``.

    Shape:
        ``carriers (N, L)``, ``shifts (...)`` integer → ``(..., N, L)``.
    """
    length = carriers.shape[-1]
    idx = (torch.arange(length, device=carriers.device) - shifts.to(carriers.device).unsqueeze(-1)) % length
    return carriers[:, idx].movedim(0, -2)


CPU_BLOCK_ELEMENTS = 2**20


def synthesis_blocks(n_items: int, n_bands: int, length: int, device: torch.device) -> tuple[int, int]:
    """Items and bands synthesised together: everything at once on a GPU (one kernel per stage); on a CPU
    blocks of about :data:`CPU_BLOCK_ELEMENTS` samples, as square as possible (4 items × 4 bands of 65 536
    samples), since a ``(B, N, L)`` tensor that outgrows the cache is slower per sample than a few blocks
    (measured in ``benchmarks/bench_texenv.py``)."""
    if device.type != "cpu":
        return max(1, n_items), n_bands
    bands = max(1, min(n_bands, math.isqrt(max(1, CPU_BLOCK_ELEMENTS // length))))
    items = max(1, min(n_items, CPU_BLOCK_ELEMENTS // (bands * length)))
    return items, bands


def _check_synthesis_inputs(coeffs: torch.Tensor, carriers: torch.Tensor, shifts: torch.Tensor | None) -> None:
    if coeffs.shape[-2] != carriers.shape[0]:
        raise ValueError(f"coefficients have {coeffs.shape[-2]} bands but there are {carriers.shape[0]} carriers")
    if shifts is not None and tuple(shifts.shape) != tuple(coeffs.shape[:-2]):
        raise ValueError(f"need one carrier shift per item {tuple(coeffs.shape[:-2])}, "
                         f"got shape {tuple(shifts.shape)}")


BandWeights = Callable[[torch.Tensor, slice, slice], torch.Tensor]


def _modulated_sum(coeffs: torch.Tensor, carriers: torch.Tensor, shifts: torch.Tensor | None,
                   weights: BandWeights | None = None, bandlimited: bool = True) -> torch.Tensor:
    """``Σ_n w_n · env_n · carrier_n`` over blocks of items and bands; ``weights(bands, items, part)`` gives
    the per-band factors ``(items, bands)`` of a block (``None``: 1).  Without weights, the band-limited form
    (:func:`~ddsp_textures.synths.bandlimited.bandlimited_sum`: short grids per band, one output FFT)."""
    length, n_bands = carriers.shape[-1], carriers.shape[0]
    if bandlimited and weights is None and not carriers.requires_grad:
        return _bandlimited_blocks(coeffs, carriers, shifts)
    lead = coeffs.shape[:-2]
    flat = coeffs.reshape(-1, n_bands, coeffs.shape[-1])
    flat_shifts = None if shifts is None else shifts.reshape(-1)
    n_items = flat.shape[0]
    item_block, band_block = synthesis_blocks(n_items, n_bands, length, coeffs.device)
    outputs = []
    for i0 in range(0, n_items, item_block):
        items = slice(i0, min(i0 + item_block, n_items))
        acc = None
        for b0 in range(0, n_bands, band_block):
            part = slice(b0, min(b0 + band_block, n_bands))
            env = envelopes_from_coefficients(flat[items, part], length)
            block = carriers[part].to(env.dtype)
            if flat_shifts is not None:
                block = roll_carriers(block, flat_shifts[items])
            bands = env.mul_(block)        # in place: irfft's backward does not need its output
            if weights is not None:
                bands = bands * weights(bands, items, part).unsqueeze(-1)
            summed = bands.sum(-2)
            acc = summed if acc is None else acc + summed
        outputs.append(acc)
    return torch.cat(outputs).reshape(*lead, length)


BANDLIMITED_CPU_BLOCK = 2**21     # output samples per block of items on a CPU (its spectra stay in cache-sized
                                  # pieces; on a GPU every item at once)


def _bandlimited_blocks(coeffs: torch.Tensor, carriers: torch.Tensor, shifts: torch.Tensor | None
                        ) -> torch.Tensor:
    length, n_bands = carriers.shape[-1], carriers.shape[0]
    lead = coeffs.shape[:-2]
    flat = coeffs.reshape(-1, n_bands, coeffs.shape[-1])
    flat_shifts = None if shifts is None else shifts.reshape(-1)
    carriers = carriers.to(flat.real.dtype)
    n_items = flat.shape[0]
    block = n_items if coeffs.device.type != "cpu" else max(1, BANDLIMITED_CPU_BLOCK // length)
    parts = [bandlimited_sum(flat[i:i + block], carriers, None if flat_shifts is None else flat_shifts[i:i + block])
             for i in range(0, n_items, block)]
    return torch.cat(parts).reshape(*lead, length)


def texenv_synthesis(coeffs: torch.Tensor, carriers: torch.Tensor, return_bands: bool = False,
                     shifts: torch.Tensor | None = None) -> torch.Tensor:
    """Batched TexEnv synthesis: each band's envelope (inverse FFT of its coefficients) times its carrier,
    summed over bands — in cache-sized blocks of items and bands (:func:`synthesis_blocks`), never holding
    the ``(..., N, L)`` bands at once unless ``return_bands``.

    ``shifts`` (one integer per item) delays the *carriers* of each item while the envelopes keep their time
    alignment; overlapping frames then get uncorrelated fine structure (see :func:`overlap_add`).

    Shape:
        ``coeffs (..., N, P)`` complex, ``carriers (N, L)``, ``shifts (...)`` → ``(..., L)`` (or ``(..., N, L)``).

    >>> carriers = torch.ones(3, 8)
    >>> c = torch.zeros(2, 3, 2, dtype=torch.complex64); c[..., 0] = 8 ** 0.5
    >>> [round(v, 5) for v in texenv_synthesis(c, carriers)[0].tolist()]  # three bands of constant envelope 1
    [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    """
    _check_synthesis_inputs(coeffs, carriers, shifts)
    if not return_bands:
        return _modulated_sum(coeffs, carriers, shifts)
    env = envelopes_from_coefficients(coeffs, carriers.shape[-1])
    rolled = carriers.to(env.dtype) if shifts is None else roll_carriers(carriers.to(env.dtype), shifts)
    return env * rolled


def polar_to_coefficients(magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``magnitude · exp(j·phase)`` as a complex tensor (the decoder's polar parameterisation)."""
    return torch.polar(magnitude, phase)


def coefficients_from_logits(magnitude: torch.Tensor, phase: torch.Tensor, n_bands: int, length: int,
                             positive_dc: bool = False) -> torch.Tensor:
    """Network outputs → TexEnv controls (the polar head shared by TexDSP and the grain VAE): magnitudes
    ``√L·sigmoid(m)`` (so an envelope stays within the range of a unit-RMS band) and phases ``2π·sigmoid(p)``.

    The synthesis keeps only the real part of the DC coefficient, so a free DC phase ``φ`` makes the envelope's
    mean ``|C₀|·cos φ / √L``: near zero or negative, where the envelope crosses zero and its magnitude dips.
    ``positive_dc`` fixes that phase at 0 (the mean is ``|C₀| / √L``); measured on a trained TexDSP on a train
    recording with a free phase: 78 % of envelope samples negative.

    Shape:
        ``(..., N·P), (..., N·P) -> (..., N, P)`` complex.
    """
    shape = (*magnitude.shape[:-1], n_bands, magnitude.shape[-1] // n_bands)
    mag = math.sqrt(length) * torch.sigmoid(magnitude).reshape(shape)
    angle = 2 * math.pi * torch.sigmoid(phase).reshape(shape)
    if positive_dc:
        angle = torch.cat([torch.zeros_like(angle[..., :1]), angle[..., 1:]], dim=-1)
    return torch.polar(mag, angle)


def normalize_loudness(bands: torch.Tensor, mode: Loudness, target: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Sum bands ``(..., N, L)`` with a loudness rule.

    ``"none"`` sums as is; ``"generic"`` scales the sum to RMS ``target`` (scalar or ``(...,)``);
    ``"specific"`` scales each band to RMS ``target[..., n]`` (shape ``(..., N)``) before summing.
    """
    target = torch.as_tensor(target, dtype=bands.dtype, device=bands.device)
    if mode == "none":
        return bands.sum(-2)
    if mode == "generic":
        y = bands.sum(-2)
        return y * (target / rms(y)).unsqueeze(-1)
    if mode == "specific":
        if target.dim() == 0 or target.shape[-1] != bands.shape[-2]:
            raise ValueError(f"specific loudness needs one target per band ({bands.shape[-2]})")
        return (bands * (target / rms(bands)).unsqueeze(-1)).sum(-2)
    raise ValueError(f"unknown loudness mode {mode!r}; use 'none', 'generic' or 'specific'")


class TexEnvSynth(nn.Module):
    """TexEnv synthesiser with its noise carriers kept as the buffer ``carriers`` (saved with the model).

    Args:
        bank: cochlear filterbank; its length is the frame size.
        param_per_env: real parameters per band (even); ``P = param_per_env // 2`` complex coefficients.
        generator: RNG for the carriers.

    Shape:
        ``forward(coeffs)``: ``(..., N, P)`` complex → ``(..., L)``.
    """

    carriers: torch.Tensor

    def __init__(self, bank: FilterBank, param_per_env: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if param_per_env < 2 or param_per_env % 2:
            raise ValueError(f"param_per_env must be an even integer >= 2, got {param_per_env}")
        if bank.length % 2:
            raise ValueError(f"TexEnv needs an even frame size, got {bank.length}")
        if param_per_env // 2 > bank.length // 2 + 1:
            raise ValueError(f"param_per_env={param_per_env} is too large for frames of {bank.length}")
        self.frame_size, self.n_bands, self.n_coeffs = bank.length, bank.n_bands, param_per_env // 2
        self.fs, self.bank = bank.fs, bank
        self.register_buffer("carriers", make_carriers(bank, generator))

    @property
    def envelope_bandwidth(self) -> float:
        """Highest envelope frequency the synth can produce (Hz) for the bank's sample rate."""
        return (self.n_coeffs - 1) * self.fs / self.frame_size

    def shape_carriers(self, spectrum: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Replace the carriers by ones whose in-band spectrum follows ``spectrum`` (``(L//2 + 1,)``, e.g. the
        long-term spectrum of the training corpus); the buffer keeps its shape, so checkpoints stay loadable."""
        self.carriers.copy_(make_carriers(self.bank, generator, spectrum).to(self.carriers.device))

    def forward(self, coeffs: torch.Tensor, loudness: Loudness = "none",
                target: torch.Tensor | float = 1.0, shifts: torch.Tensor | None = None) -> torch.Tensor:
        if loudness == "none":
            return texenv_synthesis(coeffs, self.carriers, shifts=shifts)
        if loudness == "generic":
            return normalize_loudness(texenv_synthesis(coeffs, self.carriers, shifts=shifts).unsqueeze(-2),
                                      "generic", target)
        if loudness != "specific":
            raise ValueError(f"unknown loudness mode {loudness!r}; use 'none', 'generic' or 'specific'")
        _check_synthesis_inputs(coeffs, self.carriers, shifts)
        target = torch.as_tensor(target, dtype=self.carriers.dtype, device=self.carriers.device)
        if target.dim() == 0 or target.shape[-1] != self.n_bands:
            raise ValueError(f"specific loudness needs one target per band ({self.n_bands})")
        flat_target = target.expand(*coeffs.shape[:-2], self.n_bands).reshape(-1, self.n_bands)
        return _modulated_sum(coeffs, self.carriers, shifts,
                              lambda bands, items, part: flat_target[items, part] / rms(bands))


def compression_ratio(frame_size: int, n_bands: int, param_per_env: int) -> float:
    """Samples per parameter, e.g. 8.0 for L=32768, N=16, param_per_env=256."""
    return frame_size / (n_bands * param_per_env)




normalise_loudness = renamed("normalise_loudness", normalize_loudness)
