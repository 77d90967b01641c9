"""Distribution distances on TexStat embeddings: FAD and KAD (book chapter: *TexStat*), and the long-term
spectral deviation of a resynthesis (book chapter: *TexEnv synth*).

Frames are embedded by their flattened TexStat statistics (by default S1–S3, the reference's recommended
"sub" embedding).  Compared with the original texstat package (Gutiérrez & Wyse): the squared distances of
KAD are clamped at zero, the kernel bandwidth is the median distance of the *pooled* sets (not of the second
set only), nothing is cached on disk, and frames are never sampled with replacement.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ddsp_textures.dsp.filterbanks import FilterBank
from ddsp_textures.dsp.framing import frame_signal, zscore
from ddsp_textures.dsp.spectral import long_term_spectrum
from ddsp_textures.stats.texstat import TexStat


def frame_audio(x: np.ndarray | torch.Tensor, frame_size: int, hop: int | None = None) -> torch.Tensor:
    """Non-overlapping (or ``hop``-spaced) frames of a mono signal: ``(n,) -> (F, L)``; the tail is dropped."""
    return frame_signal(x, frame_size, frame_size if hop is None else hop)


@torch.no_grad()
def frame_distance(texstat: TexStat, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Mean TexStat loss between time-aligned frames of two signals (non-overlapping frames of the module's
    ``frame_size``, each z-scored; the tail is dropped): how far a resynthesis is from its original, frame by
    frame.  Compare with ``frame_distance(texstat, x[:-L], x[L:])``, the texture's own variability.

    >>> ts = TexStat(4096, 16000, 8, 4)
    >>> x = torch.randn(3 * 4096)
    >>> frame_distance(ts, x, x), frame_distance(ts, x, 3 * x) < 1e-4   # frames are z-scored: level-free
    (0.0, True)
    """
    return frame_distances(texstat, x, [y])[0]


@torch.no_grad()
def frame_distances(texstat: TexStat, x: np.ndarray | torch.Tensor,
                    candidates: Sequence[np.ndarray | torch.Tensor]) -> list[float]:
    """:func:`frame_distance` of several candidates to one original, whose frame statistics are computed once
    (e.g. to choose between resyntheses of ``x``); the same values as separate calls."""
    return [float(np.mean(row)) for row in per_frame_distances(texstat, x, candidates)]


@torch.no_grad()
def per_frame_distances(texstat: TexStat, x: np.ndarray | torch.Tensor,
                        candidates: Sequence[np.ndarray | torch.Tensor]) -> list[np.ndarray]:
    """The TexStat loss of each candidate's frames to ``x``'s, frame by frame (:func:`frame_distances` is their
    mean): one array ``(F_c,)`` per candidate, ``F_c`` the whole frames both signals have."""
    n = texstat.frame_size
    a = zscore(frame_audio(x, n))
    device = texstat.cochlear.filters.device
    targets: list[list[torch.Tensor]] = []
    out = []
    for y in candidates:
        b = zscore(frame_audio(y, n))
        count = min(len(a), len(b))
        if count == 0:
            raise ValueError(f"signals shorter than one frame of {n} samples")
        while len(targets) < count:
            targets.append(texstat.statistics(a[len(targets):len(targets) + 1].to(device)))
        out.append(np.array([float(texstat.loss_to_statistics(b[i:i + 1].to(device), targets[i]))
                             for i in range(count)]))
    return out


def closest_candidate(x: torch.Tensor, candidates: Sequence[torch.Tensor | np.ndarray], bank: FilterBank
                      ) -> torch.Tensor | np.ndarray:
    """The candidate whose frames are closest to ``x`` in TexStat with ``bank``'s frame size, bands and limits
    (:func:`frame_distances`: ``x``'s statistics once); how ``transients="auto"`` chooses between
    resyntheses of ``x``.  The first candidate wins ties."""
    measure = TexStat.for_bank(bank).to(x.device)
    scores = frame_distances(measure, x, candidates)
    return candidates[min(range(len(candidates)), key=scores.__getitem__)]


@torch.no_grad()
def texstat_embeddings(frames: torch.Tensor, texstat: TexStat, n_stats: int = 3, batch_size: int = 16,
                       normalize: bool = True) -> np.ndarray:
    """Embed frames ``(F, L)`` as flattened statistics ``(F, D)`` (float64).

    ``normalize`` z-scores each frame first (TexStat's S1 mean is level-dependent).  Frames that give
    non-finite statistics are dropped.
    """
    if frames.dim() != 2:
        raise ValueError(f"expected frames of shape (F, L), got {tuple(frames.shape)}")
    out = []
    device = texstat.cochlear.filters.device
    for chunk in frames.split(batch_size):
        chunk = chunk.to(device)
        if normalize:
            chunk = zscore(chunk)
        out.append(texstat.feature_vector(chunk, n_stats).double().cpu())
    emb = torch.cat(out).numpy()
    return emb[np.isfinite(emb).all(axis=1)]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets ``(n, D)`` and ``(m, D)``.

    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(500, 3)); b = rng.normal(size=(500, 3)) + [2, 0, 0]
    >>> 3.5 < frechet_distance(a, b) < 4.5   # ≈ |μ_a − μ_b|² = 4
    True
    """
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError("each set needs at least 2 embeddings")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # Tr sqrtm(Σa Σb) = Tr sqrtm(Σa^½ Σb Σa^½): a symmetric PSD matrix, so the trace is the sum of the square
    # roots of its (clipped) eigenvalues — stable and real even when the covariances are singular
    # (fewer frames than dimensions), where a general sqrtm returns complex noise.
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_covmean = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_covmean)


def kernel_distance(a: np.ndarray, b: np.ndarray, bandwidth: float | None = None, kernel: str = "gaussian",
                    scale: float = 100.0) -> float:
    """Unbiased MMD² between two embedding sets (KAD), times ``scale`` (100 as in the reference).

    Kernels ``gaussian`` ``exp(-γd²)``, ``iq`` ``1/(1+γd²)``, ``imq`` ``1/sqrt(1+γd²)`` with
    ``γ = 1/(2h²)``; ``h`` defaults to the median pairwise distance of the pooled sets.

    >>> rng = np.random.default_rng(0)
    >>> same = kernel_distance(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)))
    >>> shifted = kernel_distance(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)) + 1)
    >>> abs(same) < 0.5 < shifted
    True
    """
    x, y = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("each set needs at least 2 embeddings")
    if bandwidth is None:
        pooled = torch.cat([x, y])
        bandwidth = float(torch.pdist(pooled).median())
    gamma = 1.0 / (2 * bandwidth**2 + 1e-12)
    kernels = {"gaussian": lambda d2: torch.exp(-gamma * d2), "iq": lambda d2: 1 / (1 + gamma * d2),
               "imq": lambda d2: 1 / torch.sqrt(1 + gamma * d2)}
    if kernel not in kernels:
        raise ValueError(f"unknown kernel {kernel!r}; use {', '.join(kernels)}")
    k = kernels[kernel]
    kxx, kyy, kxy = k(torch.cdist(x, x).pow(2)), k(torch.cdist(y, y).pow(2)), k(torch.cdist(x, y).pow(2))
    mmd = ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
           - 2 * kxy.mean())
    return float(scale * mmd)


def fad(frames_a: torch.Tensor, frames_b: torch.Tensor, texstat: TexStat, n_stats: int = 3) -> float:
    """TexStat-embedding Fréchet audio distance between two sets of frames."""
    return frechet_distance(texstat_embeddings(frames_a, texstat, n_stats),
                            texstat_embeddings(frames_b, texstat, n_stats))


def kad(frames_a: torch.Tensor, frames_b: torch.Tensor, texstat: TexStat, n_stats: int = 3, **kwargs) -> float:
    """TexStat-embedding kernel audio distance (unbiased MMD²) between two sets of frames."""
    return kernel_distance(texstat_embeddings(frames_a, texstat, n_stats),
                           texstat_embeddings(frames_b, texstat, n_stats), **kwargs)


def third_octave_deviation_db(original: np.ndarray | torch.Tensor, other: np.ndarray | torch.Tensor, fs: float,
                              low: float = 100.0, high: float = 16000.0, segment: int = 8192) -> np.ndarray:
    """Long-term spectrum of ``other`` minus that of ``original`` (dB) in each 1/3-octave band with a centre
    ``1000·2^(k/3)`` Hz between ``low`` and ``high`` (Welch spectra, :func:`long_term_spectrum`).

    Both signals are compared at their own level, so a resynthesis that is 3 dB too quiet shows −3 everywhere.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(44100 * 2)
    >>> d = third_octave_deviation_db(x, 0.5 * x, 44100)
    >>> len(d), bool(np.allclose(d, -6.02, atol=0.01))
    (23, True)
    """
    a = long_term_spectrum(torch.as_tensor(np.asarray(original, dtype=np.float64)), segment, segment).numpy()
    b = long_term_spectrum(torch.as_tensor(np.asarray(other, dtype=np.float64)), segment, segment).numpy()
    freqs = np.arange(segment // 2 + 1) * fs / segment
    k = np.arange(np.floor(3 * np.log2(low / 1000)), np.ceil(3 * np.log2(high / 1000)) + 1)
    centres = 1000 * 2.0 ** (k / 3)
    centres = centres[(centres >= low * 2 ** (-1 / 12)) & (centres <= high * 2 ** (1 / 12))]   # nominal 100 Hz = 99.2
    out = []
    for c in centres:
        inside = (freqs >= c * 2 ** (-1 / 6)) & (freqs < c * 2 ** (1 / 6))
        if inside.any():
            out.append(10 * np.log10(max(b[inside].sum(), 1e-30) / max(a[inside].sum(), 1e-30)))
    return np.array(out)


@torch.no_grad()
def envelope_kurtosis(x: np.ndarray | torch.Tensor, bank: FilterBank) -> float:
    """Mean kurtosis of the cochlear envelopes of non-overlapping z-scored frames (frames of ``bank.length``):
    how peaky a texture is — 3 for Gaussian-like envelopes of steady noise, tens to hundreds for drops and
    crackles, whose sharp events a band-limited TexEnv envelope smears.  A silent band counts as 0.

    >>> from ddsp_textures.dsp.filterbanks import erb_bank
    >>> bank = erb_bank(4096, 16000, 8)
    >>> clicks = 0.01 * torch.randn(3 * 4096); clicks[::1000] += 1.0
    >>> envelope_kurtosis(torch.randn(3 * 4096), bank) < 10 < envelope_kurtosis(clicks, bank)
    True
    """
    env = bank.envelopes(zscore(frame_signal(x, bank.length, bank.length)).double())
    centred = env - env.mean(-1, keepdim=True)
    variance = centred.pow(2).mean(-1)
    return float((centred.pow(4).mean(-1) / (variance.pow(2) + 1e-20)).mean())


@torch.no_grad()
def frame_repetition(x: np.ndarray | torch.Tensor, bank: FilterBank, block: int = 256) -> float:
    """How much consecutive frames repeat one envelope timeline: the correlation between the band envelopes of
    neighbouring non-overlapping frames (frames of ``bank.length``, envelopes averaged over ``block`` samples,
    mean over bands and frame pairs) — about 0 for a recording, 1 for a loop of one frame (book chapter
    *DDSP training*: what :func:`~ddsp_textures.dsp.framing.rotate_frames` removes from a model's output).

    >>> from ddsp_textures.dsp.filterbanks import erb_bank
    >>> bank = erb_bank(4096, 16000, 8)
    >>> g = torch.Generator().manual_seed(0)
    >>> loop = (1 + torch.sin(torch.arange(4096) / 300)).repeat(6) * torch.randn(6 * 4096, generator=g)
    >>> frame_repetition(torch.randn(6 * 4096, generator=g), bank) < 0.2 < 0.8 < frame_repetition(loop, bank)
    True
    """
    frames = frame_signal(x, bank.length, bank.length).double()
    if frames.shape[0] < 2:
        raise ValueError(f"frame_repetition needs at least two frames of {bank.length} samples")
    if not 0 < block <= bank.length // 2:
        raise ValueError(f"block must be in (0, {bank.length // 2}], got {block}")
    env = bank.envelopes(frames)                                                    # (F, N, L)
    env = env[..., : env.shape[-1] // block * block].unflatten(-1, (-1, block)).mean(-1)
    env = env - env.mean(-1, keepdim=True)
    env = env / env.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return float((env[1:] * env[:-1]).sum(-1).mean())


@torch.no_grad()
def describe_resynthesis(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, texstat: TexStat,
                         bank: FilterBank | None = None, reference_embeddings: np.ndarray | None = None,
                         high: float = 16000.0) -> dict[str, float]:
    """The frame-aligned description of a resynthesis ``y`` of ``x`` that the quality benchmarks report:
    ``texstat`` (:func:`frame_distance`) and ``lts`` (the worst 1/3-octave deviation of the long-term spectrum up
    to ``high``, dB, :func:`third_octave_deviation_db`); with ``reference_embeddings`` (``x``'s
    :func:`texstat_embeddings` on half-overlapping frames) also ``fad``; with a ``bank`` also ``kurt``
    (:func:`envelope_kurtosis`) and ``repetition`` (:func:`frame_repetition`).

    >>> ts = TexStat(4096, 16000, 8, 4)
    >>> x = torch.randn(4 * 4096, generator=torch.Generator().manual_seed(0))
    >>> d = describe_resynthesis(x, 2 * x, ts)
    >>> sorted(d), d["texstat"] < 1e-4, abs(d["lts"] - 6.02) < 0.01        # level-free TexStat; +6 dB
    (['lts', 'texstat'], True, True)
    """
    y = torch.as_tensor(np.asarray(y, dtype=np.float32)) if not isinstance(y, torch.Tensor) else y.float()
    out = {"texstat": frame_distance(texstat, x, y),
           "lts": float(np.abs(third_octave_deviation_db(x, y, texstat.fs, high=high)).max())}
    if reference_embeddings is not None:
        n = texstat.frame_size
        out["fad"] = frechet_distance(reference_embeddings, texstat_embeddings(frame_signal(y, n, n // 2), texstat))
    if bank is not None:
        out["kurt"], out["repetition"] = envelope_kurtosis(y, bank), frame_repetition(y, bank)
    return out
