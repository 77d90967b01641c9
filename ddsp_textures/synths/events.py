"""Poisson event trains with a differentiable relaxation, and grain placement by FFT convolution
(book chapter: *P-VAE synth*).

At sample rate ``fs`` a Poisson process of rate ``λ`` events/s puts an event in each sample with probability
``p = λ/fs``.  The reference drew hard Bernoulli events, whose occurrence has no gradient; here each sample's
indicator is a *binary Concrete* (relaxed Bernoulli) variable

``s_t = sigmoid((logit p + log u_t − log(1 − u_t)) / τ)``,  ``u_t ~ U(0, 1)``,

which is exactly Bernoulli(p) as ``τ → 0`` and differentiable in ``λ`` for ``τ > 0``.  Event amplitudes
are ``V^α`` with ``V ~ U(0, 1)`` (reparameterised: differentiable in ``α``), so ``α > 1`` favours small
events.  Grains are placed with an FFT convolution in the right time orientation (an event at sample ``q``
starts its grain at ``q``; the reference mirrored event times) and tails either wrap around (circular,
for stationary frames) or are returned to be carried into the next frame.
"""

from __future__ import annotations

import torch


def relaxed_events(rate: torch.Tensor, alpha: torch.Tensor, n_samples: int, fs: float, temperature: float = 0.3,
                   generator: torch.Generator | None = None, straight_through: bool = False) -> torch.Tensor:
    """Relaxed Poisson event train with amplitudes.

    Args:
        rate: events per second, shape ``(...)``; alpha: amplitude exponent, same shape.
        n_samples: length of the train; fs: sample rate; temperature: Concrete temperature τ.
        straight_through: forward the *hard* indicator ``s_t > 1/2`` (exactly Bernoulli(p), what inference
            draws) with the gradient of the relaxed one.  A relaxed indicator at τ = 0.3 also lets through about
            three times as many small fractional "events" as real ones, so a model trained on it meets a
            different process at inference.

    Shape:
        ``(...) -> (..., n_samples)``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    shape = (*rate.shape, n_samples)
    u = torch.rand(shape, generator=generator, dtype=rate.dtype).to(rate.device).clamp(1e-6, 1 - 1e-6)
    v = torch.rand(shape, generator=generator, dtype=rate.dtype).to(rate.device).clamp(1e-6, 1.0)
    p = (rate / fs).clamp(1e-9, 0.5).unsqueeze(-1)
    logits = torch.log(p) - torch.log1p(-p) + torch.log(u) - torch.log1p(-u)
    indicator = torch.sigmoid(logits / temperature)
    if straight_through:
        indicator = (indicator > 0.5).to(indicator.dtype) + indicator - indicator.detach()
    amplitude = torch.exp(alpha.unsqueeze(-1) * torch.log(v))
    return indicator * amplitude


def sparse_hard_events(rate: torch.Tensor, alpha: torch.Tensor, n_samples: int, fs: float,
                       generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact Bernoulli(λ/fs) events with amplitudes ``V^α``, drawn as a list (TorchScript): the nonzero entries
    of :func:`hard_events` in row-major order — rows ``(E,)`` indexing ``rate.reshape(-1)``, times ``(E,)``
    and amplitudes ``(E,)``.

    A row's count is Binomial(``n_samples``, λ/fs), its times a uniformly drawn set of that many distinct
    samples (duplicates redrawn), then one ``V`` per event: the same process as a uniform draw per sample, with a
    few numbers per event instead of two per sample (where some row's probability is above 0.05, one uniform per
    sample, as the definition reads).  Draws on the CPU whatever ``rate``'s device.

    >>> rows, at, amp = sparse_hard_events(torch.tensor([0.0, 8000.0]), torch.ones(2), 1000, 16000.0,
    ...                                    torch.Generator().manual_seed(0))
    >>> bool((rows == 1).all()), bool((at[1:] > at[:-1]).all()), bool(((amp > 0) & (amp <= 1)).all())
    (True, True, True)
    """
    device = torch.device("cpu")
    p = torch.nan_to_num((rate.detach().reshape(-1) / fs).to(device, torch.float64), 0.0).clamp(0.0, 1.0)
    if bool((p > 0.05).any()):                       # many events: one uniform per sample is cheaper
        hits = torch.nonzero(torch.rand([p.shape[0], n_samples], generator=generator, dtype=torch.float64,
                                        device=device) < p.unsqueeze(-1))
        rows, at = hits[:, 0], hits[:, 1]
    else:
        counts = torch.binomial(torch.full_like(p, float(n_samples)), p, generator=generator).long()
        rows = torch.repeat_interleave(torch.arange(p.shape[0], device=device), counts)
        at = _distinct_times(rows, n_samples, generator)
    rows, at = rows.to(rate.device), at.to(rate.device)
    v = torch.rand(rows.shape, generator=generator, dtype=rate.dtype, device=device).clamp(1e-6, 1.0)
    return rows, at, v.to(rate.device) ** alpha.reshape(-1)[rows]


def _distinct_times(rows: torch.Tensor, n_samples: int, generator: torch.Generator | None) -> torch.Tensor:
    """Uniform times in ``[0, n_samples)``, distinct within each row of the sorted ``rows``, sorted within
    each row: a draw that only compares times, so its set is uniform over the sets of that size."""
    device = rows.device
    at = torch.randint(0, n_samples, rows.shape, generator=generator, device=device)
    while True:                                      # a set of distinct samples per row: redraw the repeats
        key = rows * n_samples + at
        order = torch.argsort(key)
        ordered = key[order]
        repeat = torch.zeros(key.shape, dtype=torch.bool, device=device)
        repeat[order[1:]] = ordered[1:] == ordered[:-1]
        if not bool(repeat.any()):
            break
        at[repeat] = torch.randint(0, n_samples, [int(repeat.sum())], generator=generator, device=device)
    return at[torch.argsort(rows * n_samples + at)]        # rows are sorted: this sorts times within a row


def hard_events(rate: torch.Tensor, alpha: torch.Tensor, n_samples: int, fs: float,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """The τ → 0 limit: exact Bernoulli(λ/fs) events with amplitudes ``V^α`` (for inference), as a dense train
    drawn by :func:`sparse_hard_events` (the same numbers from the same generator).

    Shape:
        ``(...) -> (..., n_samples)``.
    """
    rows, at, amplitude = sparse_hard_events(rate, alpha, n_samples, fs, generator)
    out = torch.zeros(rate.numel(), n_samples, dtype=amplitude.dtype, device=rate.device)
    return out.index_put((rows, at), amplitude).reshape(*rate.shape, n_samples)


def place_grains(events: torch.Tensor, grains: torch.Tensor, circular: bool = True
                 ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Convolve event trains with grains (FFT), batched, and sum over grain types.

    ``y[t] = Σ_k Σ_q events[k, q] · grains[k, t − q]`` — an event at ``q`` starts grain ``k`` at ``q``.

    Shape:
        ``events (..., K, n)``, ``grains (..., K, m)`` → ``(..., n)`` if ``circular`` (tails wrap around),
        else ``(frame (..., n), tail (..., m − 1))`` with the part that spills past the frame.

    >>> e = torch.zeros(1, 10); e[0, 3] = 2.0
    >>> g = torch.tensor([[1.0, 0.5, 0.25]])
    >>> [round(v, 4) + 0.0 for v in place_grains(e, g).tolist()]
    [0.0, 0.0, 0.0, 2.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0]
    """
    n, m = events.shape[-1], grains.shape[-1]
    if circular:
        if m > n:
            grains = grains[..., :n]
        size = n
    else:
        size = n + m - 1
    spectrum = torch.fft.rfft(events, n=size, dim=-1) * torch.fft.rfft(grains, n=size, dim=-1)
    out = torch.fft.irfft(spectrum.sum(-2), n=size, dim=-1)
    if circular:
        return out
    return out[..., :n], out[..., n:]


def join_frames(frames: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
    """Concatenate consecutive linear-convolution frames, adding each frame's tail onto what follows it.

    Shape:
        ``frames (F, n)``, ``tails (F, m − 1)`` → ``(F·n + m − 1,)``.

    >>> join_frames(torch.ones(2, 3), torch.full((2, 2), 10.0)).tolist()
    [1.0, 1.0, 1.0, 11.0, 11.0, 1.0, 10.0, 10.0]
    """
    n_frames, n = frames.shape
    m1 = tails.shape[-1]
    out = torch.zeros(n_frames * n + m1, dtype=frames.dtype, device=frames.device)
    out[: n_frames * n] = frames.reshape(-1)
    idx = (torch.arange(1, n_frames + 1, device=frames.device)[:, None] * n
           + torch.arange(m1, device=frames.device)[None, :])
    out.index_add_(0, idx.reshape(-1), tails.reshape(-1))
    return out
