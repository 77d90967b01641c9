"""TexEnv synth: amplitude envelopes, given by their first ``P`` Fourier coefficients, imposed on
envelope-flattened subbands of white noise (book chapter: *TexEnv synth*).

For band ``n`` with complex coefficients ``C_n[0..P-1]`` the envelope is the L-periodic trigonometric
polynomial ``env_n = irfft([C_n, 0, ..., 0], norm="ortho")`` and the output is ``y = Σ_n env_n · seed_n``,
where the *seed* holds ``N`` fixed noise carriers with unit Hilbert envelope (``cos`` of the instantaneous
phase of ERB-filtered Gaussian noise).  ``param_per_env = 2·P`` real numbers describe one band.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..envelopes import hilbert_envelope
from ..filterbanks import FilterBank
from ..numerics import safe_divide

Loudness = Literal["none", "generic", "specific"]


def make_seed(bank: FilterBank, generator: torch.Generator | None = None) -> torch.Tensor:
    """Noise carriers ``(N, L)`` with (nearly) flat Hilbert envelopes, one per band.

    Carrier ``n`` is band ``n`` of its own Gaussian noise (independent carriers have no cross terms, so
    band energies add up), divided by its Hilbert envelope (leaving ``cos`` of its instantaneous phase),
    filtered three more times by its band (``H_n³``: the division spreads the spectrum and the carrier
    would otherwise leak into the half-overlapping neighbours) and scaled to RMS ``1/√2``, the RMS of a
    unit-envelope carrier.

    Args:
        bank: the cochlear filterbank (its length is the frame size ``L``).
        generator: torch RNG for reproducible seeds.
    """
    noise = torch.randn(bank.n_bands, bank.length, generator=generator, dtype=torch.float64)
    filters = bank.filters.double()[1:-1]                                   # (N, F)
    sub = torch.fft.irfft(torch.fft.rfft(noise, dim=-1) * filters, n=bank.length, dim=-1)
    flat = safe_divide(sub, hilbert_envelope(sub), eps=1e-12)
    carriers = torch.fft.irfft(torch.fft.rfft(flat, dim=-1) * filters**3, n=bank.length, dim=-1)
    carriers = carriers * safe_divide(torch.tensor(0.5 ** 0.5, dtype=torch.float64),
                                      carriers.pow(2).mean(-1, keepdim=True).sqrt())
    return carriers.float()


def texenv_analysis(x: torch.Tensor, bank: FilterBank, n_coeffs: int) -> torch.Tensor:
    """First ``n_coeffs`` rfft coefficients (ortho) of each band's Hilbert envelope.

    Shape:
        ``(..., L) -> (..., N, P)`` complex.
    """
    if n_coeffs < 1 or n_coeffs > bank.length // 2 + 1:
        raise ValueError(f"n_coeffs must be in [1, {bank.length // 2 + 1}], got {n_coeffs}")
    env = hilbert_envelope(bank(x))
    return torch.fft.rfft(env, dim=-1, norm="ortho")[..., :n_coeffs]


def match_band_energies(coeffs: torch.Tensor, seed: torch.Tensor, bank: FilterBank, target: torch.Tensor,
                        steps: int = 50) -> torch.Tensor:
    """Rescale each band's coefficients so that the synthesised signal, analysed by ``bank``, has the band
    energies ``target`` (mean square of each subband).

    Neighbouring half-overlapping bands leak into each other, so plain analysis→synthesis is off by a few
    dB where the spectrum is steep.  With band products ``b_m`` and gains ``a_m`` the energy of band ``n``
    is the quadratic form ``Σ_{m,m'} a_m a_m' <H_n b_m, H_n b_m'>``; the log-gains are fitted by L-BFGS
    on the squared dB error (16–32 unknowns per frame, cheap).

    Shape:
        ``coeffs (..., N, P)`` complex, ``seed (N, L)``, ``target (..., N)`` → ``(..., N, P)``.
    """
    with torch.no_grad():
        bands = texenv_synthesis(coeffs, seed, return_bands=True)             # (..., m, L)
        sub = bank(bands)                                                       # (..., m, n, L)
        gram = torch.einsum("...mnt,...knt->...nmk", sub, sub) / sub.shape[-1]  # (..., n, m, m')
        log_target = torch.log(target.clamp_min(1e-20))
    log_gain = torch.zeros_like(target, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_gain], lr=1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        gain = log_gain.exp()
        energy = torch.einsum("...nmk,...m,...k->...n", gram, gain, gain)
        loss = (torch.log(energy.clamp_min(1e-20)) - log_target).pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return coeffs * log_gain.detach().exp().unsqueeze(-1).to(coeffs.real.dtype)


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


def texenv_synthesis(coeffs: torch.Tensor, seed: torch.Tensor, return_bands: bool = False) -> torch.Tensor:
    """Batched TexEnv synthesis, vectorised over batch and bands.

    Shape:
        ``coeffs (..., N, P)`` complex, ``seed (N, L)`` → ``(..., L)`` (or ``(..., N, L)`` bands).

    >>> seed = torch.ones(3, 8)
    >>> c = torch.zeros(2, 3, 2, dtype=torch.complex64); c[..., 0] = 8 ** 0.5
    >>> [round(v, 5) for v in texenv_synthesis(c, seed)[0].tolist()]  # three bands of constant envelope 1
    [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    """
    if coeffs.shape[-2] != seed.shape[0]:
        raise ValueError(f"coefficients have {coeffs.shape[-2]} bands but the seed has {seed.shape[0]}")
    bands = envelopes_from_coefficients(coeffs, seed.shape[-1])
    bands.mul_(seed.to(bands.dtype))                  # in place: one (..., N, L) buffer instead of two
    return bands if return_bands else bands.sum(-2)


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


def overlap_add(frames: torch.Tensor, hop: int, roll: bool = True,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Overlap-add frames at 50 % overlap with a complementary window.

    With ``roll=True`` each frame is first circularly rolled by a random offset (valid because TexEnv
    output is L-periodic; it hides the repetition of the fixed seed).  Rolled neighbours are uncorrelated, so
    their *powers* add: the window is then the sine window ``sqrt(hann)`` (``w² + w'² = 1``), which keeps
    the level constant.  Without rolling the Hann window (``w + w' = 1``) reconstructs overlapping copies
    of one signal exactly.  The first and last half frames are not faded.

    Shape:
        ``(F, L) -> (L + (F - 1)·hop,)``.
    """
    n_frames, length = frames.shape
    if hop != length // 2 or length % 2:
        raise ValueError("overlap_add works at 50 % overlap: hop must be L // 2 with L even")
    if roll:
        shifts = torch.randint(0, length, (n_frames,), generator=generator)
        idx = (torch.arange(length)[None, :] - shifts[:, None]) % length
        frames = torch.gather(frames, 1, idx.to(frames.device))
    window = torch.hann_window(length, periodic=True, dtype=frames.dtype, device=frames.device)
    if roll:
        window = window.sqrt()
    windows = window.expand(n_frames, length).clone()
    windows[0, : length // 2] = 1.0
    windows[-1, length // 2:] = 1.0
    total = length + (n_frames - 1) * hop
    out = torch.zeros(total, dtype=frames.dtype, device=frames.device)
    idx = (torch.arange(n_frames, device=frames.device)[:, None] * hop
           + torch.arange(length, device=frames.device)[None, :])
    out.index_add_(0, idx.reshape(-1), (frames * windows).reshape(-1))
    return out


def wrap_pad(x: torch.Tensor, total: int) -> torch.Tensor:
    """Extend a texture to ``total`` samples by repeating its beginning (zero padding would put silence into
    the last frame, which the random roll of :func:`overlap_add` then moves into the audible part)."""
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
        self.fs = bank.fs
        self.register_buffer("seed", make_seed(bank, generator))

    @property
    def envelope_bandwidth(self) -> float:
        """Highest envelope frequency the synth can produce (Hz) for the bank's sample rate."""
        return (self.n_coeffs - 1) * self.fs / self.frame_size

    def forward(self, coeffs: torch.Tensor, loudness: Loudness = "none",
                target: torch.Tensor | float = 1.0) -> torch.Tensor:
        bands = texenv_synthesis(coeffs, self.seed, return_bands=True)
        return normalise_loudness(bands, loudness, target)


def compression_ratio(frame_size: int, n_bands: int, param_per_env: int) -> float:
    """Samples per parameter, e.g. 8.0 for L=32768, N=16, param_per_env=256."""
    return frame_size / (n_bands * param_per_env)



def texenv_resynthesize(x: torch.Tensor, bank: FilterBank, param_per_env: int, seed: torch.Tensor,
                        match_energy: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """DSP analysis→synthesis of a whole signal (no network): frames of ``L = bank.length`` with hop ``L/2``
    are analysed to ``param_per_env // 2`` coefficients per band, optionally energy-matched, synthesised
    with ``seed`` and overlap-added with random circular rolls (book chapter: *TexEnv synth*).

    Shape:
        ``(n,) -> (n,)`` with ``n >= L``.
    """
    length = bank.length
    if x.dim() != 1 or x.shape[0] < length:
        raise ValueError(f"expected a mono signal of at least {length} samples, got shape {tuple(x.shape)}")
    hop = length // 2
    n = x.shape[0]
    frames = half_overlap_frames(x, length)                                     # (F, L)
    coeffs = texenv_analysis(frames, bank, param_per_env // 2)
    if match_energy:
        coeffs = match_band_energies(coeffs, seed, bank, bank(frames).pow(2).mean(-1))
    out = texenv_synthesis(coeffs, seed.to(frames.dtype))
    return overlap_add(out, hop, roll=True, generator=generator)[:n]
