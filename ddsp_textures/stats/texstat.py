"""TexStat: McDermott–Simoncelli texture statistics as a differentiable loss (book chapter: *TexStat*).

Pipeline for a batch of frames ``x`` of shape ``(B, L)``:

1. cochlear subbands (ERB bank, ``N`` bands) → Hilbert envelopes ``E`` ``(B, N, L)``;
2. envelopes decimated by ``factor`` → ``D`` ``(B, N, T)`` with ``T = L // factor``;
3. modulation subbands of each envelope (log bank, ``M`` bands) → ``S`` ``(B, N, M, T)``.

Statistics (McDermott & Simoncelli 2011, as adapted by Gutiérrez & Wyse's TexStat, with the original code's bugs
fixed — correct skewness/kurtosis, epsilons; see the book's appendix for what the published numbers used):

* **S1** ``(B, N, 4)``: ``α0·μ, α1·σ²/μ², α2·skewness, α3·kurtosis`` of each envelope (unbiased σ);
* **S2** ``(B, N(N-1)/2)``: Pearson correlation between envelopes of channel pairs ``i < j``;
* **S3** ``(B, N·M)``: ``std(S[n, m]) / std(D[n])`` (modulation power as a std ratio), n-major;
* **S4** ``(B, N(N-1)/2 · M)``: correlation of the same modulation band across channel pairs, pair-major;
* **S5** ``(B, M(M-1)/2 · N)``: correlation of modulation-band pairs within a channel, pair-major.

Correlations are computed as Gram matrices of the centred signals, divided by their diagonals (which are also
the variances), so memory stays ``O(B·N·M·T)`` (no ``O(B·N²·M·T)`` broadcast).  The loss is
``Σ_k β_k · mean_b RMS_j(S_k(x) − S_k(y))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ddsp_textures.dsp.envelopes import downsample
from ddsp_textures.dsp.filterbanks import FilterBank, erb_bank, modulation_bank
from ddsp_textures.dsp.numerics import EPS, safe_sqrt

DEFAULT_ALPHA = (10.0, 1.0, 0.1, 0.01)
DEFAULT_BETA = (1.0, 20.0, 20.0, 20.0, 20.0)
STAT_NAMES = ("S1", "S2", "S3", "S4", "S5")


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-norm rows along the last axis (zero rows stay zero)."""
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).sum(dim=-1, keepdim=True) + EPS)


def correlation_matrix(x: torch.Tensor) -> torch.Tensor:
    """Pearson correlations between all rows: ``(..., K, T) -> (..., K, K)``.

    >>> x = torch.randn(2, 3, 100)
    >>> c = correlation_matrix(x)
    >>> bool(torch.allclose(c[0], torch.corrcoef(x[0]), atol=1e-5))
    True
    """
    z = _normalise(x)
    return z @ z.transpose(-1, -2)


def _upper_pairs(corr: torch.Tensor) -> torch.Tensor:
    """Entries ``i < j`` of the last two axes in ``torch.triu_indices`` order: ``(..., K, K) -> (..., P)``."""
    k = corr.shape[-1]
    i, j = torch.triu_indices(k, k, 1, device=corr.device)
    return corr[..., i, j]


def envelope_moments(env: torch.Tensor, alpha: Sequence[float] = DEFAULT_ALPHA, eps: float = EPS) -> torch.Tensor:
    """S1: weighted mean, CV², skewness and kurtosis of envelopes ``(..., T) -> (..., 4)``.

    ``eps`` regularises the denominators (``σ²/(μ² + eps)``, ``m_k/(σ² + eps)^{k/2}``); the reference's
    standalone package used ``1e-8``, which on signals at recording level silences the CV² of near-empty bands.
    """
    if len(alpha) != 4:
        raise ValueError(f"alpha needs 4 weights (mean, CV², skewness, kurtosis), got {len(alpha)}")
    t = env.shape[-1]
    mu = env.mean(dim=-1)
    centred = env - mu.unsqueeze(-1)
    squared = centred * centred                      # products, not pow(3) and pow(4): 14x faster on a CPU
    var = squared.sum(dim=-1) / max(t - 1, 1)
    var_eps = var + eps
    cv2 = var / (mu.pow(2) + eps)
    skew = (squared * centred).mean(dim=-1) / var_eps.pow(1.5)
    kurt = (squared * squared).mean(dim=-1) / var_eps.pow(2)
    weights = torch.tensor(alpha, dtype=env.dtype, device=env.device)
    return torch.stack([mu, cv2, skew, kurt], dim=-1) * weights


def _correlations_from_gram(gram: torch.Tensor) -> torch.Tensor:
    """Pearson correlations from a Gram matrix of centred rows: ``G_ij / sqrt((G_ii + ε)(G_jj + ε))``, what
    :func:`correlation_matrix` gives (its rows are normalised by ``sqrt(Σ c² + ε)``) without a pass over the
    rows: ``(..., K, K) -> (..., K, K)``."""
    norm = (gram.diagonal(dim1=-2, dim2=-1) + EPS).rsqrt()
    return gram * norm.unsqueeze(-1) * norm.unsqueeze(-2)


def _moments_and_correlations(env: torch.Tensor, alpha: Sequence[float], eps: float
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """S1 and S2 from one centring of the envelopes ``(B, N, T)``: :func:`envelope_moments` and the upper pairs of
    :func:`correlation_matrix`, equal to them within float rounding.  The Gram matrix of the centred envelopes
    holds both the variances (its diagonal) and the correlations, so the envelopes are centred once and never
    normalised (measured in benchmarks/README.md, *Speed*, "Gram round").
    """
    t = env.shape[-1]
    mu = env.mean(dim=-1)
    centred = env - mu.unsqueeze(-1)
    gram = centred @ centred.transpose(-1, -2)                                    # (B, N, N)
    var = gram.diagonal(dim1=-2, dim2=-1) / max(t - 1, 1)
    squared = centred * centred
    var_eps = var + eps
    cv2 = var / (mu.pow(2) + eps)
    skew = (squared * centred).mean(dim=-1) / var_eps.pow(1.5)
    kurt = (squared * squared).mean(dim=-1) / var_eps.pow(2)
    weights = torch.tensor(alpha, dtype=env.dtype, device=env.device)
    s1 = torch.stack([mu, cv2, skew, kurt], dim=-1) * weights
    return s1, _upper_pairs(_correlations_from_gram(gram))


def _parseval_vectors(spectrum: torch.Tensor, length: int) -> torch.Tensor:
    """Real vectors whose dot products are the centred time-domain dot products of the real signals of
    ``length`` samples whose first rfft bins are ``spectrum`` ``(..., K) -> (..., 2(K-1))``.

    By Parseval, ``Σ_t (a-ā)(b-b̄) = Σ_{k≥1} w_k Re(A_k conj B_k)`` with ``w_k = 2/T`` (``1/T`` at the Nyquist
    bin, whose imaginary part a real signal does not have); the DC bin holds the mean and is left out.
    Bins beyond ``K`` must be zero (band-limited signals).
    """
    k = spectrum.shape[-1]
    weights = torch.full((k - 1,), 2.0 / length, dtype=spectrum.real.dtype, device=spectrum.device)
    parts = spectrum[..., 1:]
    real, imag = parts.real, parts.imag
    if length % 2 == 0 and k == length // 2 + 1:
        weights[-1] = 1.0 / length
        imag = torch.cat([imag[..., :-1], torch.zeros_like(imag[..., -1:])], dim=-1)
    root = weights.sqrt()
    return torch.cat([real * root, imag * root], dim=-1)


def _modulation_statistics(dec_v: torch.Tensor, mod_v: torch.Tensor, t: int
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """S3, S4 and S5 from the Parseval vectors (:func:`_parseval_vectors`) of the decimated envelopes
    ``(B, N, K)`` and of their modulation bands ``(B, N, M, K)``, ``t`` samples long: the variances and
    correlations from the Gram matrices within a channel and across channels, never from normalised copies."""
    b = dec_v.shape[0]
    dec_std = torch.sqrt(dec_v.pow(2).sum(-1) / max(t - 1, 1) + EPS)             # (B, N)
    within = mod_v @ mod_v.transpose(-1, -2)                                     # (B, N, M, M)
    mod_std = torch.sqrt(within.diagonal(dim1=-2, dim2=-1) / max(t - 1, 1) + EPS)  # (B, N, M)
    s3 = (mod_std / dec_std.unsqueeze(-1)).reshape(b, -1)
    across = mod_v.transpose(1, 2) @ mod_v.transpose(1, 2).transpose(-1, -2)     # (B, M, N, N)
    s4 = _upper_pairs(_correlations_from_gram(across))                           # (B, M, P)
    s4 = s4.transpose(1, 2).reshape(b, -1)                                       # pair-major, m-minor
    s5 = _upper_pairs(_correlations_from_gram(within))                           # (B, N, Pm)
    s5 = s5.transpose(1, 2).reshape(b, -1)                                       # pair-major, n-minor
    return s3, s4, s5


def _std(x: torch.Tensor) -> torch.Tensor:
    t = x.shape[-1]
    centred = x - x.mean(dim=-1, keepdim=True)
    return torch.sqrt(centred.pow(2).sum(dim=-1) / max(t - 1, 1) + EPS)


class TexStat(nn.Module):
    """TexStat statistics and loss for frames of a fixed length.

    Args:
        frame_size: frame length ``L`` in samples (divisible by ``factor``).
        fs: sample rate.
        n_bands: cochlear bands ``N``; ``low``/``high``: their limits in Hz (default 20 Hz .. fs/2).
        n_mod_bands: modulation bands ``M``; ``mod_low``/``mod_high``: limits in Hz (default 10 Hz ..
            ``fs/16``, the reference's values).
        factor: envelope decimation factor (default 4).
        alpha: S1 weights; beta: weights of the five statistics in the loss.
        eps: regulariser of the S1 denominators (see :func:`envelope_moments`).

    Shape:
        ``statistics``: ``(B, L)`` or ``(L,)`` → list of five tensors (leading batch axis kept).
        ``forward(x, y)``: ``(B, L), (B, L) -> ()`` loss.

    >>> ts = TexStat(4096, 16000, n_bands=8, n_mod_bands=4)
    >>> x = torch.randn(2, 4096)
    >>> [tuple(s.shape) for s in ts.statistics(x)]
    [(2, 8, 4), (2, 28), (2, 32), (2, 112), (2, 48)]
    >>> float(ts(x, x))
    0.0
    """

    def __init__(self, frame_size: int, fs: float = 44100, n_bands: int = 16, n_mod_bands: int = 6,
                 low: float = 20.0, high: float | None = None, mod_low: float = 10.0,
                 mod_high: float | None = None, factor: int = 4,
                 alpha: Sequence[float] = DEFAULT_ALPHA, beta: Sequence[float] = DEFAULT_BETA,
                 eps: float = EPS) -> None:
        super().__init__()
        if frame_size % factor:
            raise ValueError(f"frame_size {frame_size} must be divisible by the decimation factor {factor}")
        if len(beta) != 5:
            raise ValueError(f"beta needs 5 weights (S1..S5), got {len(beta)}")
        if len(alpha) != 4:
            raise ValueError(f"alpha needs 4 weights (mean, CV², skewness, kurtosis), got {len(alpha)}")
        if n_bands < 2 or n_mod_bands < 2:
            raise ValueError(f"TexStat needs n_bands >= 2 and n_mod_bands >= 2 (for correlations), "
                             f"got {n_bands} and {n_mod_bands}")
        self.frame_size, self.fs, self.factor = frame_size, fs, factor
        self.alpha, self.beta = tuple(float(a) for a in alpha), tuple(float(b) for b in beta)
        for name, weights in (("alpha", self.alpha), ("beta", self.beta)):
            if not all(math.isfinite(w) and w >= 0 for w in weights):
                raise ValueError(f"{name} weights must be finite and >= 0, got {list(weights)}")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0, got {eps}")
        self.eps = float(eps)
        self.cochlear: FilterBank = erb_bank(frame_size, fs, n_bands, low, high)
        env_fs = fs / factor
        mod_high = env_fs / 4 if mod_high is None else mod_high
        self.modulation: FilterBank = modulation_bank(frame_size // factor, env_fs, n_mod_bands, mod_low, mod_high)
        mod_filters = self.modulation.filters[1:-1]                                  # (M, T/2 + 1)
        support = int(torch.nonzero(mod_filters.abs().amax(0) > 0).max()) + 1
        self.register_buffer("_modulation_filters", mod_filters[:, :support].contiguous(), persistent=False)

    @classmethod
    def for_bank(cls, bank: FilterBank, n_mod_bands: int = 6, **kwargs: float) -> TexStat:
        """The TexStat of ``bank``'s frame size, sample rate, bands and limits (decimation 4, or 2 where the
        frame size is not a multiple of 4)."""
        factor = 4 if bank.length % 4 == 0 else 2
        return cls(bank.length, bank.fs, bank.n_bands, n_mod_bands, low=bank.low, high=bank.high,
                   factor=factor, **kwargs)

    @property
    def n_bands(self) -> int:
        return self.cochlear.n_bands

    @property
    def n_mod_bands(self) -> int:
        return self.modulation.n_bands

    def envelopes(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``E (B, N, L)``, decimated ``D (B, N, T)`` and modulation bands ``S (B, N, M, T)``."""
        env = self.cochlear.envelopes(x)
        dec = downsample(env, self.factor)
        return env, dec, self.modulation(dec)

    def statistics(self, x: torch.Tensor, chunk_size: int | None = None) -> list[torch.Tensor]:
        """The five statistics ``[S1, S2, S3, S4, S5]`` of a batch of frames.

        Computed in chunks of ``chunk_size`` frames (default :meth:`auto_chunk_size`): on a CPU a batch that
        no longer fits in the cache is slower per frame than a few frames at a time; the results are the
        same for any chunk size.
        """
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if x.dim() != 2:
            raise ValueError(f"expected a (batch, samples) tensor, got shape {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError("expected at least one frame, got an empty batch")
        if x.shape[-1] != self.frame_size:
            raise ValueError(f"this TexStat was built for frames of {self.frame_size} samples, "
                             f"got {x.shape[-1]}")
        if not x.is_floating_point():
            raise ValueError(f"expected floating-point audio, got {x.dtype}")
        if not torch.isfinite(x).all():
            raise ValueError("input audio contains NaN or inf")
        chunk = self.auto_chunk_size(x) if chunk_size is None else int(chunk_size)
        if chunk < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        parts = [self._statistics(part) for part in x.split(chunk)]
        if len(parts) == 1:
            return parts[0]
        return [torch.cat(stat, dim=0) for stat in zip(*parts, strict=True)]

    def auto_chunk_size(self, x: torch.Tensor) -> int:
        """Frames per chunk: the whole batch on a GPU; on a CPU, as many frames as keep one ``(chunk, N, L)``
        envelope tensor within :attr:`CPU_CHUNK_ELEMENTS` (one frame at a time for N = 16, L = 65536)."""
        if x.device.type != "cpu":
            return max(1, x.shape[0])
        return max(1, self.CPU_CHUNK_ELEMENTS // (self.n_bands * self.frame_size))

    CPU_CHUNK_ELEMENTS = 2**20

    def _spectral_parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Envelopes ``E (B, N, L)``, spectrum of the decimated envelopes ``(B, N, K)`` and spectra of the
        modulation bands ``(B, N, M, K')`` (bins above the modulation bank's support dropped).

        Two FFT passes over ``(B, N, L)`` data: one inverse FFT of each band's one-sided spectrum gives the
        analytic signal directly, and the rfft of the envelope gives the decimated envelope's spectrum
        (its first ``T/2 + 1`` bins, as :func:`~ddsp_textures.dsp.envelopes.downsample` computes it).
        """
        length, t = self.frame_size, self.frame_size // self.factor
        env = self.cochlear.envelopes(x)                                              # (B, N, L)
        k = t // 2 + 1
        dec = torch.fft.rfft(env, dim=-1)[..., :k] * (t / length)
        if t % 2 == 0:   # fold the Nyquist bin as downsample() does (its irfft keeps only the real part)
            dec = torch.cat([dec[..., :-1], (2 * dec[..., -1:].real).to(dec.dtype)], dim=-1)
        g = self._modulation_filters.to(device=x.device, dtype=x.dtype)               # (M, K')
        mod = dec[..., : g.shape[-1]].unsqueeze(-2) * g                              # (B, N, M, K')
        return env, dec, mod

    def _statistics(self, x: torch.Tensor) -> list[torch.Tensor]:
        env, dec, mod = self._spectral_parts(x)
        t = self.frame_size // self.factor
        s1, s2 = _moments_and_correlations(env, self.alpha, self.eps)
        s3, s4, s5 = _modulation_statistics(_parseval_vectors(dec, t), _parseval_vectors(mod, t), t)
        return [s1, s2, s3, s4, s5]

    def feature_vector(self, x: torch.Tensor, n_stats: int = 5) -> torch.Tensor:
        """Flattened concatenation of the first ``n_stats`` statistics: ``(B, L) -> (B, D)``."""
        stats = self.statistics(x)[:n_stats]
        return torch.cat([s.reshape(s.shape[0], -1) for s in stats], dim=-1)

    def distances(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-item RMS distance of each statistic: ``(B, L), (B, L) -> (B, 5)`` (unweighted by β)."""
        if x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        return statistics_distances(self.statistics(x), self.statistics(y))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.weighted(self.distances(x, y))

    def loss_to_statistics(self, x: torch.Tensor, target: Sequence[torch.Tensor]) -> torch.Tensor:
        """The loss of frames ``x`` against precomputed target statistics (``statistics(y)``, e.g. cached
        during training, where the target frames never change): ``forward(x, y)`` without recomputing the
        statistics of ``y``."""
        return self.weighted(statistics_distances(self.statistics(x), target))

    def weighted(self, distances: torch.Tensor) -> torch.Tensor:
        """``Σ_k β_k · mean_b distances[b, k]``: ``(B, 5) -> ()``."""
        beta = torch.tensor(self.beta, dtype=distances.dtype, device=distances.device)
        return (distances.mean(0) * beta).sum()


def statistics_distances(sx: Sequence[torch.Tensor], sy: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-item RMS distance of each statistic between two lists of statistics: ``-> (B, 5)``."""
    if len(sx) != len(sy) or any(a.shape != b.shape for a, b in zip(sx, sy, strict=False)):
        raise ValueError(f"statistics of different shapes: {[tuple(a.shape) for a in sx]} and "
                         f"{[tuple(b.shape) for b in sy]}")
    d = [safe_sqrt((a - b).reshape(a.shape[0], -1).pow(2).mean(-1)) for a, b in zip(sx, sy, strict=True)]
    return torch.stack(d, dim=-1)


def texstat_loss(x: torch.Tensor, y: torch.Tensor, fs: float = 44100, n_bands: int = 16, n_mod_bands: int = 6,
                 alpha: Sequence[float] = DEFAULT_ALPHA, beta: Sequence[float] = DEFAULT_BETA,
                 **kwargs: float) -> torch.Tensor:
    """Functional TexStat loss (builds the banks for ``x``'s length; prefer :class:`TexStat` in loops)."""
    module = TexStat(x.shape[-1], fs, n_bands, n_mod_bands, alpha=alpha, beta=beta, **kwargs).to(x.device)
    return module(x, y)


def statistics(x: torch.Tensor, fs: float = 44100, n_bands: int = 16, n_mod_bands: int = 6,
               alpha: Sequence[float] = DEFAULT_ALPHA, **kwargs: float) -> list[torch.Tensor]:
    """Functional form of :meth:`TexStat.statistics`."""
    module = TexStat(x.shape[-1], fs, n_bands, n_mod_bands, alpha=alpha, **kwargs).to(x.device)
    return module.statistics(x)
