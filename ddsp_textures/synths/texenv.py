"""TexEnv synth: amplitude envelopes, given by their first ``P`` Fourier coefficients, imposed on
envelope-flattened subbands of white noise (book chapter: *TexEnv synth*).

For band ``n`` with complex coefficients ``C_n[0..P-1]`` the envelope is the L-periodic trigonometric
polynomial ``env_n = irfft([C_n, 0, ..., 0], norm="ortho")`` and the output is ``y = Σ_n env_n · seed_n``,
where the *seed* holds ``N`` fixed noise carriers with unit Hilbert envelope (``cos`` of the instantaneous
phase of ERB-filtered Gaussian noise).  ``param_per_env = 2·P`` real numbers describe one band.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from ..envelopes import hilbert_envelope
from ..filterbanks import FilterBank, erb_number, rfft_frequencies
from ..numerics import safe_divide
from ..spectral import long_term_spectrum

Loudness = Literal["none", "generic", "specific"]


def carrier_magnitudes(bank: FilterBank, spectrum: torch.Tensor | None = None) -> torch.Tensor:
    """Magnitude responses ``(N, F)`` of the carriers: ``|H_n|``, or ``|H_n|·sqrt(S / S̄_n)`` for a long-term power
    spectrum ``S`` on the bank's rfft grid, where ``S̄_n`` is ``S`` averaged over band ``n`` (weights ``H_n²``).

    Without a spectrum the carriers' powers ``Σ_n H_n² = 1`` add up to a flat spectrum (no dips where bands
    cross over).  With one, the fine spectral shape *inside* each band (a tonal insect, a rumble peak) follows the
    recording, while the band energies are still set by the envelopes alone.

    Shape:
        ``spectrum (F,)`` with ``F = L // 2 + 1`` → ``(N, F)`` float64.
    """
    filters = bank.filters.double()[1:-1]                                   # (N, F)
    if spectrum is None:
        return filters
    spectrum = torch.as_tensor(spectrum, dtype=torch.float64, device=filters.device).reshape(-1)
    if spectrum.numel() != filters.shape[-1]:
        raise ValueError(f"carrier spectrum needs {filters.shape[-1]} bins (rfft of {bank.length}), "
                         f"got {spectrum.numel()}")
    if not torch.isfinite(spectrum).all() or (spectrum < 0).any() or spectrum.max() <= 0:
        raise ValueError("carrier spectrum must be finite, non-negative and not all zero")
    spectrum = spectrum.clamp_min(spectrum.max() * 1e-10)                  # −100 dB floor: no empty bins
    weights = filters.pow(2)
    band_mean = (weights * spectrum).sum(-1, keepdim=True) / weights.sum(-1, keepdim=True).clamp_min(1e-30)
    return filters * (spectrum / band_mean).sqrt()


def make_seed(bank: FilterBank, generator: torch.Generator | None = None, spectrum: torch.Tensor | None = None,
              iterations: int = 30) -> torch.Tensor:
    """Noise carriers ``(N, L)``, one per band: flat Hilbert envelope, magnitude spectrum exactly
    :func:`carrier_magnitudes` (book chapter: *TexEnv synth*).

    Carrier ``n`` starts as Gaussian noise shaped by its band and is refined by alternating projections: divide
    by the Hilbert envelope (unit envelope, ``cos`` of the instantaneous phase), then keep the phases and
    impose the band's magnitude response.  The last step is the spectral one, so the summed carriers have the
    power spectrum ``Σ_n H_n²`` = flat (crossover ripple ≈ 0 dB; one division and three more filterings, as
    before, left ≈ 9 dB dips), and 30 iterations bring the envelope's coefficient of variation to ≈ 0.1.
    Independent noises make the bands' energies add.  Scaled to RMS ``1/√2``, the RMS of a unit-envelope carrier.

    Args:
        bank: the cochlear filterbank (its length is the frame size ``L``).
        generator: torch RNG for reproducible seeds.
        spectrum: optional long-term power spectrum ``(L//2 + 1,)`` to follow inside each band
            (:func:`ddsp_textures.spectral.long_term_spectrum`).
        iterations: alternating projections.

    >>> from ddsp_textures.filterbanks import erb_bank
    >>> bank = erb_bank(4096, 16000, 8)
    >>> seed = make_seed(bank, torch.Generator().manual_seed(0))
    >>> tuple(seed.shape), round(float(seed.pow(2).mean().sqrt()), 4)
    ((8, 4096), 0.7071)
    >>> crossover_ripple(seed, bank) < 0.1
    True
    """
    magnitude = carrier_magnitudes(bank, spectrum).cpu()
    noise = torch.randn(bank.n_bands, bank.length, generator=generator, dtype=torch.float64)
    carriers = torch.fft.irfft(torch.fft.rfft(noise, dim=-1) * magnitude, n=bank.length, dim=-1)
    for _ in range(iterations):
        flat = safe_divide(carriers, hilbert_envelope(carriers), eps=1e-12)
        phase = torch.angle(torch.fft.rfft(flat, dim=-1))
        carriers = torch.fft.irfft(torch.polar(magnitude, phase), n=bank.length, dim=-1)
    carriers = carriers * safe_divide(torch.tensor(0.5 ** 0.5, dtype=torch.float64),
                                      carriers.pow(2).mean(-1, keepdim=True).sqrt())
    return carriers.float()


def crossover_ripple(seed: torch.Tensor, bank: FilterBank) -> float:
    """Peak-to-peak ripple (dB) of the summed carriers' power spectrum between the first and last band centre.

    Each carrier is scaled to the power white noise has in its band (what the synth gets for a flat input),
    the powers are summed and averaged over ±1/8 band spacing (ERB-number) around every band centre and every
    crossover.  0 dB is a perfectly flat sum; carriers filtered by ``H³`` give ≈ 9 dB.
    """
    if bank.scale != "erb":
        raise ValueError("crossover_ripple is defined for ERB banks")
    weights = bank.filters.double()[1:-1].pow(2).cpu()
    power = torch.fft.rfft(seed.double().cpu(), dim=-1).abs().pow(2)
    total = (power * (weights.sum(-1) / power.sum(-1).clamp_min(1e-30)).unsqueeze(-1)).sum(0)
    erb = erb_number(rfft_frequencies(bank.length, bank.fs))
    cut = erb_number(bank.cutoffs)
    step = float(cut[1] - cut[0])
    points = torch.linspace(float(cut[1]), float(cut[-2]), 2 * bank.n_bands - 1, dtype=torch.float64)
    levels = torch.stack([total[(erb > p - step / 8) & (erb < p + step / 8)].mean() for p in points])
    db = 10 * torch.log10(levels)
    return float(db.max() - db.min())


def texenv_analysis(x: torch.Tensor, bank: FilterBank, n_coeffs: int) -> torch.Tensor:
    """First ``n_coeffs`` rfft coefficients (ortho) of each band's Hilbert envelope.

    Shape:
        ``(..., L) -> (..., N, P)`` complex.
    """
    if n_coeffs < 1 or n_coeffs > bank.length // 2 + 1:
        raise ValueError(f"n_coeffs must be in [1, {bank.length // 2 + 1}], got {n_coeffs}")
    env = bank.envelopes(x)
    return torch.fft.rfft(env, dim=-1, norm="ortho")[..., :n_coeffs]


def band_energy_gram(coeffs: torch.Tensor, seed: torch.Tensor, bank: FilterBank) -> torch.Tensor:
    """Inner products ``G[n, m, k] = <H_n b_m, H_n b_k>`` (per sample) of the synthesised band products ``b_m``.

    Computed in the frequency domain (Parseval), one frame at a time: ``O(N²·L)`` memory instead of the
    ``(N, N, L)`` subbands of every product.

    Shape:
        ``coeffs (..., N, P)``, ``seed (N, L)`` → ``(..., N, N, N)``.
    """
    length = seed.shape[-1]
    weights = bank.filters.to(seed.device, torch.float64)[1:-1].pow(2)       # (n, F)
    weights = weights * 2.0                                                  # one-sided spectrum: bins count twice,
    weights[:, 0] /= 2                                                       # except DC ...
    if length % 2 == 0:
        weights[:, -1] /= 2                                                  # ... and Nyquist
    weights = torch.cat([weights, weights], dim=-1)                          # (n, 2F): real and imaginary parts
    lead = coeffs.shape[:-2]
    flat = coeffs.reshape(-1, *coeffs.shape[-2:])
    grams = []
    for item in flat:                                                        # one frame: (m, L) products
        spectrum = torch.fft.rfft(texenv_synthesis(item, seed, return_bands=True).double(), dim=-1)
        parts = torch.cat([spectrum.real, spectrum.imag], dim=-1)            # (m, 2F)
        grams.append(torch.einsum("nf,mf,kf->nmk", weights, parts, parts) / length**2)
    return torch.stack(grams).reshape(*lead, *grams[0].shape)


def match_band_energies(coeffs: torch.Tensor, seed: torch.Tensor, bank: FilterBank, target: torch.Tensor,
                        steps: int = 50, max_gain_db: float = 12.0) -> torch.Tensor:
    """Rescale each band's coefficients, within ``±max_gain_db``, so that the synthesised signal analysed by
    ``bank`` has band energies (mean squares) close to ``target``.

    Neighbouring half-overlapping bands leak into each other.  With band products ``b_m`` and gains ``a_m``
    the energy of band ``n`` is the quadratic form ``Σ_{m,m'} a_m a_m' G[n, m, m']``
    (:func:`band_energy_gram`); log-gains ``bound·tanh(u)`` are fitted by L-BFGS on the squared log error.
    The bound keeps a band whose target lies below its neighbours' leakage from being switched off — an
    unbounded fit dug −80 dB holes into such spectra.

    Shape:
        ``coeffs (..., N, P)`` complex, ``seed (N, L)``, ``target (..., N)`` → ``(..., N, P)``.
    """
    if max_gain_db <= 0:
        raise ValueError(f"max_gain_db must be positive, got {max_gain_db}")
    with torch.no_grad():
        gram = band_energy_gram(coeffs, seed, bank)
        log_target = torch.log(target.double().clamp_min(1e-30))
    bound = max_gain_db / 20 * math.log(10)
    free = torch.zeros_like(log_target, requires_grad=True)
    optimiser = torch.optim.LBFGS([free], lr=1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        gain = (bound * torch.tanh(free)).exp()
        energy = torch.einsum("...nmk,...m,...k->...n", gram, gain, gain)
        loss = (torch.log(energy.clamp_min(1e-30)) - log_target).pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    gain = (bound * torch.tanh(free.detach())).exp()
    return coeffs * gain.unsqueeze(-1).to(coeffs.device, coeffs.real.dtype)


def envelopes_from_coefficients(coeffs: torch.Tensor, length: int) -> torch.Tensor:
    """Band envelopes from low-order coefficients (inverse rfft of the zero-padded spectrum, ortho).

    Shape:
        ``(..., N, P)`` complex ``-> (..., N, L)``.
    """
    if length % 2:
        raise ValueError(f"TexEnv needs an even frame length, got {length}")
    if coeffs.shape[-1] > length // 2 + 1:
        raise ValueError(f"{coeffs.shape[-1]} coefficients do not fit a frame of {length} samples")
    return torch.fft.irfft(coeffs, n=length, dim=-1, norm="ortho")     # irfft zero-pads to n itself


def roll_carriers(seed: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """The carriers circularly delayed by ``shifts[...]`` samples, one shift per item (valid because the carriers
    are L-periodic): ``out[..., n, t] = seed[n, (t - shift) mod L]``.

    Shape:
        ``seed (N, L)``, ``shifts (...)`` integer → ``(..., N, L)``.
    """
    length = seed.shape[-1]
    idx = (torch.arange(length, device=seed.device) - shifts.to(seed.device).unsqueeze(-1)) % length
    return seed[:, idx].movedim(0, -2)


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


def _check_synthesis_inputs(coeffs: torch.Tensor, seed: torch.Tensor, shifts: torch.Tensor | None) -> None:
    if coeffs.shape[-2] != seed.shape[0]:
        raise ValueError(f"coefficients have {coeffs.shape[-2]} bands but the seed has {seed.shape[0]}")
    if shifts is not None and tuple(shifts.shape) != tuple(coeffs.shape[:-2]):
        raise ValueError(f"need one carrier shift per item {tuple(coeffs.shape[:-2])}, "
                         f"got shape {tuple(shifts.shape)}")


BandWeights = Callable[[torch.Tensor, slice, slice], torch.Tensor]


def _modulated_sum(coeffs: torch.Tensor, seed: torch.Tensor, shifts: torch.Tensor | None,
                   weights: BandWeights | None = None) -> torch.Tensor:
    """``Σ_n w_n · env_n · carrier_n`` over blocks of items and bands; ``weights(bands, items, part)`` gives
    the per-band factors ``(items, bands)`` of a block (``None``: 1)."""
    length, n_bands = seed.shape[-1], seed.shape[0]
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
            carriers = seed[part].to(env.dtype)
            if flat_shifts is not None:
                carriers = roll_carriers(carriers, flat_shifts[items])
            bands = env.mul_(carriers)        # in place: irfft's backward does not need its output
            if weights is not None:
                bands = bands * weights(bands, items, part).unsqueeze(-1)
            block = bands.sum(-2)
            acc = block if acc is None else acc + block
        outputs.append(acc)
    return torch.cat(outputs).reshape(*lead, length)


def texenv_synthesis(coeffs: torch.Tensor, seed: torch.Tensor, return_bands: bool = False,
                     shifts: torch.Tensor | None = None) -> torch.Tensor:
    """Batched TexEnv synthesis: each band's envelope (inverse FFT of its coefficients) times its carrier,
    summed over bands — in cache-sized blocks of items and bands (:func:`synthesis_blocks`), never holding
    the ``(..., N, L)`` bands at once unless ``return_bands``.

    ``shifts`` (one integer per item) delays the *carriers* of each item while the envelopes keep their time
    alignment; overlapping frames then get uncorrelated fine structure (see :func:`overlap_add`).

    Shape:
        ``coeffs (..., N, P)`` complex, ``seed (N, L)``, ``shifts (...)`` → ``(..., L)`` (or ``(..., N, L)``).

    >>> seed = torch.ones(3, 8)
    >>> c = torch.zeros(2, 3, 2, dtype=torch.complex64); c[..., 0] = 8 ** 0.5
    >>> [round(v, 5) for v in texenv_synthesis(c, seed)[0].tolist()]  # three bands of constant envelope 1
    [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    """
    _check_synthesis_inputs(coeffs, seed, shifts)
    if not return_bands:
        return _modulated_sum(coeffs, seed, shifts)
    env = envelopes_from_coefficients(coeffs, seed.shape[-1])
    carriers = seed.to(env.dtype) if shifts is None else roll_carriers(seed.to(env.dtype), shifts)
    return env * carriers


def polar_to_coefficients(magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``magnitude · exp(j·phase)`` as a complex tensor (the decoder's polar parameterisation)."""
    return torch.polar(magnitude, phase)


def _rms(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x.pow(2).mean(-1) + 1e-12)


def normalise_loudness(bands: torch.Tensor, mode: Loudness, target: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Sum bands ``(..., N, L)`` with a loudness rule.

    ``"none"`` sums as is; ``"generic"`` scales the sum to RMS ``target`` (scalar or ``(...,)``);
    ``"specific"`` scales each band to RMS ``target[..., n]`` (shape ``(..., N)``) before summing.
    """
    target = torch.as_tensor(target, dtype=bands.dtype, device=bands.device)
    if mode == "none":
        return bands.sum(-2)
    if mode == "generic":
        y = bands.sum(-2)
        return y * (target / _rms(y)).unsqueeze(-1)
    if mode == "specific":
        if target.dim() == 0 or target.shape[-1] != bands.shape[-2]:
            raise ValueError(f"specific loudness needs one target per band ({bands.shape[-2]})")
        return (bands * (target / _rms(bands)).unsqueeze(-1)).sum(-2)
    raise ValueError(f"unknown loudness mode {mode!r}; use 'none', 'generic' or 'specific'")


Window = Literal["hann", "sqrt_hann"]


def overlap_add(frames: torch.Tensor, hop: int, window: Window = "hann") -> torch.Tensor:
    """Overlap-add frames at 50 % overlap with a complementary window; frames keep their time alignment.

    ``"hann"`` (``w + w' = 1``) reconstructs overlapping copies of one signal exactly.  ``"sqrt_hann"``
    (``w² + w'² = 1``) is for neighbours whose fine structure is uncorrelated — TexEnv frames whose carriers
    were shifted by different random offsets (:func:`texenv_synthesis`): their *powers* add, so the level stays
    constant across the overlap while the envelopes stay where the analysis found them.  (Rolling whole frames
    instead, as the reference did, moves the envelopes away from their time.)  The first and last half frames
    are not faded.

    Shape:
        ``(F, L) -> (L + (F - 1)·hop,)``.

    >>> x = torch.randn(96, dtype=torch.float64)
    >>> frames = x.unfold(0, 32, 16)
    >>> bool(torch.allclose(overlap_add(frames, 16), x))
    True
    """
    n_frames, length = frames.shape
    if hop != length // 2 or length % 2:
        raise ValueError("overlap_add works at 50 % overlap: hop must be L // 2 with L even")
    if window not in ("hann", "sqrt_hann"):
        raise ValueError(f"unknown window {window!r}; use 'hann' or 'sqrt_hann'")
    w = torch.hann_window(length, periodic=True, dtype=frames.dtype, device=frames.device)
    if window == "sqrt_hann":
        w = w.sqrt()
    windows = w.expand(n_frames, length).clone()
    windows[0, : length // 2] = 1.0
    windows[-1, length // 2:] = 1.0
    total = length + (n_frames - 1) * hop
    out = torch.zeros(total, dtype=frames.dtype, device=frames.device)
    idx = (torch.arange(n_frames, device=frames.device)[:, None] * hop
           + torch.arange(length, device=frames.device)[None, :])
    out.index_add_(0, idx.reshape(-1), (frames * windows).reshape(-1))
    return out


def random_shifts(n: int, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random carrier shifts in ``[0, length)`` (CPU, int64)."""
    return torch.randint(0, length, (n,), generator=generator)


def wrap_pad(x: torch.Tensor, total: int) -> torch.Tensor:
    """Extend a texture to ``total`` samples by repeating its beginning (zero padding would put silence into
    the last frame, and its envelopes would fade the end of the resynthesis out)."""
    n = x.shape[-1]
    if total <= n:
        return x[..., :total]
    reps = -(-total // n)
    return torch.cat([x] * reps, dim=-1)[..., :total]


def half_overlap_frames(x: torch.Tensor, length: int) -> torch.Tensor:
    """Frames of ``length`` at hop ``length/2`` covering all of ``x`` (at least two; the end is wrap-padded),
    ready for :func:`overlap_add`: ``(n,) -> (F, L)``."""
    hop = length // 2
    n_frames = max(2, -(-max(x.shape[-1] - length, 0) // hop) + 1)
    return wrap_pad(x, length + (n_frames - 1) * hop).unfold(-1, length, hop)


class TexEnvSynth(nn.Module):
    """TexEnv synthesiser with its seed kept as a buffer (saved in ``state_dict`` with the model).

    Args:
        bank: cochlear filterbank; its length is the frame size.
        param_per_env: real parameters per band (even); ``P = param_per_env // 2`` complex coefficients.
        generator: RNG for the seed.

    Shape:
        ``forward(coeffs)``: ``(..., N, P)`` complex → ``(..., L)``.
    """

    seed: torch.Tensor

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
        self.register_buffer("seed", make_seed(bank, generator))

    @property
    def envelope_bandwidth(self) -> float:
        """Highest envelope frequency the synth can produce (Hz) for the bank's sample rate."""
        return (self.n_coeffs - 1) * self.fs / self.frame_size

    def shape_carriers(self, spectrum: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Replace the carriers by ones whose in-band spectrum follows ``spectrum`` (``(L//2 + 1,)``, e.g. the
        long-term spectrum of the training corpus); the buffer keeps its shape, so checkpoints stay loadable."""
        self.seed.copy_(make_seed(self.bank, generator, spectrum).to(self.seed.device))

    def forward(self, coeffs: torch.Tensor, loudness: Loudness = "none",
                target: torch.Tensor | float = 1.0, shifts: torch.Tensor | None = None) -> torch.Tensor:
        if loudness == "none":
            return texenv_synthesis(coeffs, self.seed, shifts=shifts)
        if loudness == "generic":
            return normalise_loudness(texenv_synthesis(coeffs, self.seed, shifts=shifts).unsqueeze(-2),
                                      "generic", target)
        if loudness != "specific":
            raise ValueError(f"unknown loudness mode {loudness!r}; use 'none', 'generic' or 'specific'")
        _check_synthesis_inputs(coeffs, self.seed, shifts)
        target = torch.as_tensor(target, dtype=self.seed.dtype, device=self.seed.device)
        if target.dim() == 0 or target.shape[-1] != self.n_bands:
            raise ValueError(f"specific loudness needs one target per band ({self.n_bands})")
        flat_target = target.expand(*coeffs.shape[:-2], self.n_bands).reshape(-1, self.n_bands)
        return _modulated_sum(coeffs, self.seed, shifts,
                              lambda bands, items, part: flat_target[items, part] / _rms(bands))


def compression_ratio(frame_size: int, n_bands: int, param_per_env: int) -> float:
    """Samples per parameter, e.g. 8.0 for L=32768, N=16, param_per_env=256."""
    return frame_size / (n_bands * param_per_env)



def texenv_resynthesize(x: torch.Tensor, bank: FilterBank, param_per_env: int, seed: torch.Tensor | None = None,
                        match_energy: bool = False, generator: torch.Generator | None = None,
                        max_gain_db: float = 12.0) -> torch.Tensor:
    """DSP analysis→synthesis of a whole signal (no network), book chapter *TexEnv synth*.

    Frames of ``L = bank.length`` with hop ``L/2`` are analysed to ``param_per_env // 2`` coefficients per
    band, synthesised with carriers shifted by a random offset per frame, and overlap-added with the
    power-complementary ``sqrt_hann`` window, so envelopes stay time-aligned with the input.  Without a
    ``seed``, carriers are made for this signal: their in-band spectrum follows its long-term spectrum
    (:func:`make_seed` with :func:`~ddsp_textures.spectral.long_term_spectrum`).  ``match_energy`` adds the
    bounded band-energy fit (:func:`match_band_energies`); measured on real recordings it did not help TexStat
    or the long-term spectrum once the carriers sum flat, so it is off by default.

    Shape:
        ``(n,) -> (n,)`` with ``n >= L``.
    """
    length = bank.length
    if not isinstance(x, torch.Tensor) or x.dim() != 1 or x.shape[0] < length:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected a mono signal (1-D tensor) of at least {length} samples, got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"expected a floating-point signal, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError("input signal contains NaN or inf")
    if seed is None:
        seed = make_seed(bank, generator, long_term_spectrum(x, length))
    frames = half_overlap_frames(x, length)                                     # (F, L)
    coeffs = texenv_analysis(frames, bank, param_per_env // 2)
    if match_energy:
        coeffs = match_band_energies(coeffs, seed, bank, bank(frames).pow(2).mean(-1), max_gain_db=max_gain_db)
    shifts = random_shifts(frames.shape[0], length, generator)
    out = texenv_synthesis(coeffs, seed.to(frames.device, frames.dtype), shifts=shifts)
    return overlap_add(out, length // 2, "sqrt_hann")[: x.shape[0]]
