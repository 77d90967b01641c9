"""The TexEnv DSP resynthesis as it was before the quality work (issue "Sound like the recording"), kept as the
"before" column of ``eval_quality.py``: carriers filtered by ``H³`` (≈ 9 dB dips at band crossovers), unbounded
energy matching (can dig −80 dB holes), and whole frames rolled before overlap-add (envelopes lose their time
alignment).  Not part of the library.
"""

from __future__ import annotations

import torch

from ddsp_textures.dsp.envelopes import hilbert_envelope
from ddsp_textures.dsp.filterbanks import FilterBank
from ddsp_textures.dsp.framing import half_overlap_frames
from ddsp_textures.dsp.numerics import safe_divide
from ddsp_textures.synths.analysis import texenv_analysis
from ddsp_textures.synths.texenv import texenv_synthesis


def legacy_seed(bank: FilterBank, generator: torch.Generator | None = None) -> torch.Tensor:
    noise = torch.randn(bank.n_bands, bank.length, generator=generator, dtype=torch.float64)
    filters = bank.filters.double()[1:-1]
    sub = torch.fft.irfft(torch.fft.rfft(noise, dim=-1) * filters, n=bank.length, dim=-1)
    flat = safe_divide(sub, hilbert_envelope(sub), eps=1e-12)
    carriers = torch.fft.irfft(torch.fft.rfft(flat, dim=-1) * filters**3, n=bank.length, dim=-1)
    carriers = carriers * safe_divide(torch.tensor(0.5 ** 0.5, dtype=torch.float64),
                                      carriers.pow(2).mean(-1, keepdim=True).sqrt())
    return carriers.float()


def legacy_match(coeffs: torch.Tensor, seed: torch.Tensor, bank: FilterBank, target: torch.Tensor,
                 steps: int = 50) -> torch.Tensor:
    with torch.no_grad():
        bands = texenv_synthesis(coeffs, seed, return_bands=True)
        gram = []
        for item in bands:                                    # per frame: (m, n, L) fits in memory
            sub = bank(item)
            gram.append(torch.einsum("mnt,knt->nmk", sub, sub) / sub.shape[-1])
        gram = torch.stack(gram)
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


def legacy_overlap_add(frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n_frames, length = frames.shape
    hop = length // 2
    shifts = torch.randint(0, length, (n_frames,), generator=generator)
    idx = (torch.arange(length)[None, :] - shifts[:, None]) % length
    frames = torch.gather(frames, 1, idx)
    windows = torch.hann_window(length, periodic=True, dtype=frames.dtype).sqrt().expand(n_frames, length).clone()
    windows[0, :hop] = 1.0
    windows[-1, hop:] = 1.0
    out = torch.zeros(length + (n_frames - 1) * hop, dtype=frames.dtype)
    idx = torch.arange(n_frames)[:, None] * hop + torch.arange(length)[None, :]
    out.index_add_(0, idx.reshape(-1), (frames * windows).reshape(-1))
    return out


def legacy_resynthesize(x: torch.Tensor, bank: FilterBank, param_per_env: int, seed: int = 0) -> torch.Tensor:
    """Yesterday's ``texenv_resynthesize(x, bank, ppe, make_carriers(bank, gen(seed)), generator=gen(seed))``."""
    carriers = legacy_seed(bank, torch.Generator().manual_seed(seed))
    frames = half_overlap_frames(x, bank.length)
    coeffs = texenv_analysis(frames, bank, param_per_env // 2)
    coeffs = legacy_match(coeffs, carriers, bank, bank(frames).pow(2).mean(-1))
    out = texenv_synthesis(coeffs, carriers.to(frames.dtype))
    return legacy_overlap_add(out, torch.Generator().manual_seed(seed))[: x.shape[0]]
