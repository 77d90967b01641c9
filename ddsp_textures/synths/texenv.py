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

from .._deprecated import renamed, renamed_keywords
from ..filterbanks import FilterBank, erb_number, one_sided_weights, rfft_frequencies
from ..framing import half_overlap_frames, overlap_add, random_shifts, rms
from ..metrics import closest_candidate
from ..numerics import modulus, safe_divide
from ..spectral import equalize_to, long_term_spectrum
from .bandlimited import bandlimited_sum
from .transients import DETECTORS, analyze_transients, detector, synthesize_transients

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


def make_carriers(bank: FilterBank, generator: torch.Generator | None = None, spectrum: torch.Tensor | None = None,
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
    >>> carriers = make_carriers(bank, torch.Generator().manual_seed(0))
    >>> tuple(carriers.shape), round(float(carriers.pow(2).mean().sqrt()), 4)
    ((8, 4096), 0.7071)
    >>> crossover_ripple(carriers, bank) < 0.1
    True
    """
    magnitude = carrier_magnitudes(bank, spectrum).cpu()
    length = bank.length
    noise = torch.randn(bank.n_bands, length, generator=generator, dtype=torch.float64)
    spectrum_ = torch.fft.rfft(noise, dim=-1) * magnitude                    # one-sided spectrum of the carriers
    # the projections run in single precision (3x faster; the carriers are float32 anyway): the envelope's
    # CV and the crossover ripple are those of double precision, the carriers within 0.3 % of their RMS
    magnitude = magnitude.float()
    one_sided = one_sided_weights(length, torch.float32)                       # analytic signal: SciPy's weights
    spectrum_ = spectrum_.to(torch.complex64)
    for _ in range(iterations):
        # the analytic signal straight from the one-sided spectrum (one inverse FFT instead of three FFTs)
        analytic = torch.fft.ifft(spectrum_ * one_sided, n=length, dim=-1)
        flat = safe_divide(analytic.real, modulus(analytic), eps=1e-12)
        rotated = torch.fft.rfft(flat, dim=-1)                                 # keep its phases, impose |H|
        spectrum_ = rotated * safe_divide(magnitude, rotated.abs(), eps=1e-30)
    carriers = torch.fft.irfft(spectrum_, n=length, dim=-1).double()
    carriers = carriers * safe_divide(torch.tensor(0.5 ** 0.5, dtype=torch.float64),
                                      carriers.pow(2).mean(-1, keepdim=True).sqrt())
    return carriers.float()


def crossover_ripple(carriers: torch.Tensor, bank: FilterBank) -> float:
    """Peak-to-peak ripple (dB) of the summed carriers' power spectrum between the first and last band centre.

    Each carrier is scaled to the power white noise has in its band (what the synth gets for a flat input),
    the powers are summed and averaged over ±1/8 band spacing (ERB-number) around every band centre and every
    crossover.  0 dB is a perfectly flat sum; carriers filtered by ``H³`` give ≈ 9 dB.
    """
    if bank.scale != "erb":
        raise ValueError("crossover_ripple is defined for ERB banks")
    weights = bank.filters.double()[1:-1].pow(2).cpu()
    power = torch.fft.rfft(carriers.double().cpu(), dim=-1).abs().pow(2)
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


def band_energy_gram(coeffs: torch.Tensor, carriers: torch.Tensor, bank: FilterBank) -> torch.Tensor:
    """Inner products ``G[n, m, k] = <H_n b_m, H_n b_k>`` (per sample) of the synthesised band products ``b_m``.

    Computed in the frequency domain (Parseval), one frame at a time: ``O(N²·L)`` memory instead of the
    ``(N, N, L)`` subbands of every product.

    Shape:
        ``coeffs (..., N, P)``, ``carriers (N, L)`` → ``(..., N, N, N)``.
    """
    length = carriers.shape[-1]
    weights = bank.filters.to(carriers.device, torch.float64)[1:-1].pow(2)       # (n, F)
    weights = weights * 2.0                                                  # one-sided spectrum: bins count twice,
    weights[:, 0] /= 2                                                       # except DC ...
    if length % 2 == 0:
        weights[:, -1] /= 2                                                  # ... and Nyquist
    weights = torch.cat([weights, weights], dim=-1)                          # (n, 2F): real and imaginary parts
    lead = coeffs.shape[:-2]
    flat = coeffs.reshape(-1, *coeffs.shape[-2:])
    grams = []
    for item in flat:                                                        # one frame: (m, L) products
        spectrum = torch.fft.rfft(texenv_synthesis(item, carriers, return_bands=True).double(), dim=-1)
        parts = torch.cat([spectrum.real, spectrum.imag], dim=-1)            # (m, 2F)
        grams.append(torch.einsum("nf,mf,kf->nmk", weights, parts, parts) / length**2)
    return torch.stack(grams).reshape(*lead, *grams[0].shape)


def match_band_energies(coeffs: torch.Tensor, carriers: torch.Tensor, bank: FilterBank, target: torch.Tensor,
                        steps: int = 50, max_gain_db: float = 12.0) -> torch.Tensor:
    """Rescale each band's coefficients, within ``±max_gain_db``, so that the synthesised signal analysed by
    ``bank`` has band energies (mean squares) close to ``target``.

    Neighbouring half-overlapping bands leak into each other.  With band products ``b_m`` and gains ``a_m``
    the energy of band ``n`` is the quadratic form ``Σ_{m,m'} a_m a_m' G[n, m, m']``
    (:func:`band_energy_gram`); log-gains ``bound·tanh(u)`` are fitted by L-BFGS on the squared log error.
    The bound keeps a band whose target lies below its neighbours' leakage from being switched off — an
    unbounded fit dug −80 dB holes into such spectra.

    Shape:
        ``coeffs (..., N, P)`` complex, ``carriers (N, L)``, ``target (..., N)`` → ``(..., N, P)``.
    """
    if max_gain_db <= 0:
        raise ValueError(f"max_gain_db must be positive, got {max_gain_db}")
    with torch.no_grad():
        gram = band_energy_gram(coeffs, carriers, bank)
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


@renamed_keywords(equalise="equalize")
def texenv_resynthesize(x: torch.Tensor, bank: FilterBank, param_per_env: int, carriers: torch.Tensor | None = None,
                        match_energy: bool = False, generator: torch.Generator | None = None,
                        max_gain_db: float = 12.0, transients: bool | str = "auto",
                        n_atoms: int = 32, equalize: bool = True) -> torch.Tensor:
    """DSP analysis→synthesis of a whole signal (no network), book chapter *TexEnv synth*.

    Frames of ``L = bank.length`` with hop ``L/2`` are analysed to ``param_per_env // 2`` coefficients per
    band, synthesised with carriers shifted by a random offset per frame, and overlap-added with the
    power-complementary ``sqrt_hann`` window, so envelopes stay time-aligned with the input.  Without a
    ``carriers``, carriers are made for this signal: their in-band spectrum follows its long-term spectrum
    (:func:`make_carriers` with :func:`~ddsp_textures.spectral.long_term_spectrum`).  ``match_energy`` adds the
    bounded band-energy fit (:func:`match_band_energies`); measured on real recordings it did not help TexStat
    or the long-term spectrum once the carriers sum flat, so it is off by default.

    ``transients=True`` first takes the clicks out (:func:`~ddsp_textures.synths.transients.analyze_transients`,
    a dictionary of ``n_atoms`` atoms cut from ``x``): the TexEnv analysis, and the carriers' spectrum, see only
    the residual bed, and the events are added back as waveforms.  A detector name (``"clicks"``, the same as
    ``True``, or ``"knocks"``: sparser, broader events, see
    :data:`~ddsp_textures.synths.transients.DETECTORS`) picks the detection settings.  ``"auto"`` (default)
    resynthesises without a layer and with each detector and keeps the one whose frames are closer to ``x`` in
    TexStat (:func:`~ddsp_textures.metrics.closest_candidate`, with the bank's bands): "clicks" wins on crackles,
    drops and claps, "knocks" on a train's clatter, no layer on steady noise.

    ``equalize`` (default) filters the result so that its long-term spectrum follows ``x``'s within ±6 dB
    (:func:`~ddsp_textures.spectral.equalize_to`, 1/6-octave smoothing): envelope modulation spreads each band's
    energy over its neighbours, which tilts the spectrum by up to 3 dB at a steep low end or at the top.

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
    if transients not in (True, False, "auto") and transients not in DETECTORS:
        raise ValueError(f"transients must be True, False, 'auto' or one of {sorted(DETECTORS)}, "
                         f"got {transients!r}")
    if n_atoms < 1:
        raise ValueError(f"n_atoms must be >= 1, got {n_atoms}")

    start = None if generator is None else generator.get_state()

    def bed(signal: torch.Tensor) -> torch.Tensor:
        return _resynthesize_bed(signal, bank, param_per_env, carriers, match_energy, generator, max_gain_db)

    def finish(y: torch.Tensor) -> torch.Tensor:
        return equalize_to(y, x, bank.fs) if equalize else y

    def layered(name: str | bool) -> torch.Tensor | None:
        if start is not None:              # every candidate draws what its own call would: "auto" == that call
            generator.set_state(start)
        layer, residual = analyze_transients(x, bank.fs, n_atoms, generator=generator, **detector(name))
        if layer.times.numel() == 0:
            return None
        return finish(bed(residual.to(x.device, x.dtype)) + synthesize_transients(layer).to(x.device, x.dtype))

    if transients is False:
        return finish(bed(x))
    if transients != "auto":
        y = layered(transients)
        return finish(bed(x)) if y is None else y
    candidates = [finish(bed(x))] + [y for y in map(layered, DETECTORS) if y is not None]
    if len(candidates) == 1:
        return candidates[0]
    return closest_candidate(x, candidates, bank)


def _resynthesize_bed(x: torch.Tensor, bank: FilterBank, param_per_env: int, carriers: torch.Tensor | None,
                      match_energy: bool, generator: torch.Generator | None, max_gain_db: float) -> torch.Tensor:
    """The TexEnv part of :func:`texenv_resynthesize` (no transient layer)."""
    length = bank.length
    if carriers is None:
        carriers = make_carriers(bank, generator, long_term_spectrum(x, length))
    frames = half_overlap_frames(x, length)                                     # (F, L)
    coeffs = texenv_analysis(frames, bank, param_per_env // 2)
    if match_energy:
        coeffs = match_band_energies(coeffs, carriers, bank, bank(frames).pow(2).mean(-1), max_gain_db=max_gain_db)
    shifts = random_shifts(frames.shape[0], length, generator, hop=length // 2)
    out = texenv_synthesis(coeffs, carriers.to(frames.device, frames.dtype), shifts=shifts)
    return overlap_add(out, length // 2, "sqrt_hann")[: x.shape[0]]


normalise_loudness = renamed("normalise_loudness", normalize_loudness)
