"""Frame features fed to the DDSP encoders (book chapter: *DDSP training*).

All features are computed with the *same* cochlear filterbank as the synth and the loss (the reference
used a 20 Hz..fs/2 bank for training features whatever the configured limits), over the
whole frame (the reference's centroid looked only at the first half, item 9), and are already scaled to
O(1) ranges so that ``Linear + LayerNorm`` encoders can see them (item 3).

===================  =====  ==========================================================================
name                 dim    definition
===================  =====  ==========================================================================
``energy_bands``     N      log10 of the RMS of each cochlear subband (``log10(rms + 1e-5)``)
``centroid``         1      ERB-number of the band-energy centroid divided by the ERB-number of fs/2
``rate``             1      onsets per second / 10 (soft count of 5 dB energy jumps, pre-emphasised)
``events``           1      :func:`estimate_event_rate` / 100 (impulsive events/s, dead-time corrected)
``band_shapes``      N·32   each band's energy over time: log10 RMS of 32 equal segments of the frame,
                            relative to the band's RMS (:func:`band_shapes`)
``statistics``       D      the frame's own TexStat S1–S5 with 6 modulation bands (:func:`frame_statistics`;
                            D = 1224 for N = 16)
``spectrum_shape``   48     the frame's power spectrum in 48 log-spaced bins (40 Hz – fs/2), log10, minus
                            its mean over the bins (:func:`spectrum_shape`)
===================  =====  ==========================================================================

``band_shapes`` is the one time-resolved feature: with it a model knows *where* in a frame a band is loud, not
only how loud.  Measured once, a TexDSP trained 30 epochs on 20 s of a train's clatter
(``benchmarks/eval_quality.py``'s short config) came 6 % closer to the recording in frame TexStat (13.6 → 12.8,
worst 1/3-octave deviation 5.7 → 5.8 dB).  ``generate`` gives every frame the reference's time course averaged
over its frames (:func:`~ddsp_textures.inference.generation.reference_features`), nearly flat for a long steady
reference.
"""

from __future__ import annotations

import math

import torch

from ddsp_textures.dsp.filterbanks import FilterBank, erb_number
from ddsp_textures.dsp.numerics import safe_divide
from ddsp_textures.stats.texstat import STAT_NAMES, TexStat

FEATURES = ("energy_bands", "centroid", "rate", "events", "band_shapes", "statistics", "spectrum_shape")
SHAPE_STEPS = 32
SPECTRUM_BINS = 48       # log-spaced bins of the "spectrum_shape" feature
SPECTRUM_LOW = 40.0      # Hz: lower edge of its first bin
STAT_MOD_BANDS = 6       # modulation bands of the "statistics" feature
STAT_PARTS = STAT_NAMES   # statistics in the "statistics" feature: all five
RATE_SCALE = 10.0        # feature "rate" = onsets per second / RATE_SCALE
EVENTS_SCALE = 100.0     # feature "events" = estimated events per second / EVENTS_SCALE


def band_rms(x: torch.Tensor, bank: FilterBank) -> torch.Tensor:
    """Linear RMS of each cochlear subband: ``(..., L) -> (..., N)``."""
    return torch.sqrt(bank(x).pow(2).mean(-1) + 1e-12)


def band_loudness(x: torch.Tensor, bank: FilterBank, residuals: bool = False) -> torch.Tensor:
    """RMS of each cochlear subband of a Hann-tapered frame, power-corrected (``/ sqrt(mean(w²))``): the band
    loudness that inference imposes on model frames (book chapter: *DDSP training*).

    The bank filters circularly, so in :func:`band_rms` the jump from a frame's last sample to its first is a
    click in every band; in a quiet band it is most of the band's energy (the top band of a lossy-coded train
    recording, 15–22 kHz: ≈ 5×), and a model given that RMS fills the band with noise the recording does not
    have (measured: +6 dB at 16 kHz in the long-term spectrum; with this taper 1.3 dB, and frame TexStat 9.35
    → 9.05).  The taper removes the jump; for a stationary frame the power correction makes the expected value
    that of :func:`band_rms`.  Its price: the frame's middle counts more than its edges, so a loud event near an
    edge is under-counted (a rainforest excerpt whose strongest 727-Hz energy is one call at a frame's start: that
    band 7.9 dB low over the excerpt; benchmarks/README.md, *Sound quality*).  ``residuals`` adds the two residual bands
    (``N + 2`` values, as :meth:`~ddsp_textures.dsp.filterbanks.FilterBank.band_power`).

    Shape:
        ``(..., L) -> (..., N)`` (``(..., N + 2)`` with ``residuals``).

    >>> from ddsp_textures.dsp.filterbanks import erb_bank
    >>> bank = erb_bank(8192, 16000, 8)
    >>> t = torch.arange(8192, dtype=torch.float64) / 16000
    >>> ramp = torch.sin(2 * torch.pi * 1000 * t) + t          # a sine plus a slow ramp: one jump per frame
    >>> top = (band_rms(ramp, bank)[-1] / band_loudness(ramp, bank)[-1]).item()
    >>> top > 10, abs(band_loudness(torch.sin(2 * torch.pi * 1000 * t), bank).max().item() - 0.5**0.5) < 0.05
    (True, True)
    """
    window = torch.hann_window(x.shape[-1], periodic=True, dtype=x.dtype, device=x.device)
    power = bank.band_power(x * window / window.pow(2).mean().sqrt())          # Parseval: no subband formed
    if residuals:
        return power.clamp_min(1e-24).sqrt()
    return (power[..., 1:-1] + 1e-12).sqrt()                                    # band_rms's floor


def energy_bands(x: torch.Tensor, bank: FilterBank) -> torch.Tensor:
    """``log10`` band RMS: ``(..., L) -> (..., N)``."""
    return torch.log10(band_rms(x, bank) + 1e-5)


def spectral_centroid(x: torch.Tensor, bank: FilterBank) -> torch.Tensor:
    """Normalised centroid of the band powers on the ERB scale, in [0, 1]: ``(..., L) -> (..., 1)``.

    >>> from ddsp_textures.dsp.filterbanks import erb_bank
    >>> bank = erb_bank(4096, 16000, 16)
    >>> t = torch.arange(4096) / 16000
    >>> low = spectral_centroid(torch.sin(2 * torch.pi * 200 * t), bank)
    >>> high = spectral_centroid(torch.sin(2 * torch.pi * 4000 * t), bank)
    >>> bool(low < high)
    True
    """
    power = bank(x).pow(2).mean(-1)
    centres = erb_number(bank.centre_frequencies).to(x.device, x.dtype)
    centroid = safe_divide((power * centres).sum(-1), power.sum(-1))
    return (centroid / float(erb_number(bank.fs / 2))).unsqueeze(-1)


def onset_rate(x: torch.Tensor, fs: float, hop: int = 256, context: int = 8, threshold: float = 0.5,
               sharpness: float = 20.0) -> torch.Tensor:
    """Soft count of onsets per second, divided by 10: ``(..., L) -> (..., 1)``.

    The pre-emphasised signal (first difference, which removes low rumble) is cut in hops of ``hop``
    samples; an onset is a hop whose log10-energy exceeds the mean of the ``context`` previous hops
    (circularly) by ``threshold`` (0.5 = 5 dB).  Rising edges of ``sigmoid(sharpness·excess)`` are summed, so
    the count is differentiable.  Steady noise (wind) counts ≈ 0; isolated clicks count one each.
    """
    n = x.shape[-1] // hop
    if n <= context:
        raise ValueError(f"onset_rate needs more than {context * hop} samples, got {x.shape[-1]}")
    emphasised = x - torch.roll(x, 1, -1)
    frames = emphasised[..., : n * hop].reshape(*x.shape[:-1], n, hop)
    log_e = torch.log10(frames.pow(2).mean(-1) + 1e-8)                      # (..., n)
    padded = torch.cat([log_e[..., -context:], log_e], dim=-1)
    background = padded.unfold(-1, context, 1)[..., :n, :].mean(-1)          # previous `context` hops
    above = torch.sigmoid(sharpness * (log_e - background - threshold))
    onsets = torch.relu(above - torch.roll(above, 1, -1)).sum(-1, keepdim=True)
    return onsets / (x.shape[-1] / fs) / RATE_SCALE


def band_shapes(x: torch.Tensor, bank: FilterBank, steps: int = SHAPE_STEPS) -> torch.Tensor:
    """Time course of each band's energy: log10 RMS of ``steps`` equal segments, minus the band's log10 RMS.

    Shape:
        ``(..., L) -> (..., N·steps)`` (band-major).
    """
    bands = bank(x)
    n = x.shape[-1] // steps * steps
    seg = bands[..., :n].reshape(*bands.shape[:-1], steps, -1).pow(2).mean(-1)
    shape = 0.5 * torch.log10(seg + 1e-10) - 0.5 * torch.log10(seg.mean(-1, keepdim=True) + 1e-10)
    return shape.flatten(-2)


_SPECTRUM_BINS: dict[tuple, torch.Tensor] = {}


def _spectrum_bins(length: int, fs: float) -> torch.Tensor:
    """Averaging matrix ``(SPECTRUM_BINS, length // 2 + 1)``: row ``k`` averages the rfft bins between the
    ``k``-th and ``k+1``-th of ``SPECTRUM_BINS + 1`` log-spaced edges from :data:`SPECTRUM_LOW` to ``fs/2`` (the
    bin nearest the centre where a row would be empty: short frames at low frequencies)."""
    key = (length, float(fs))
    if key not in _SPECTRUM_BINS:
        freqs = torch.arange(length // 2 + 1, dtype=torch.float64) * fs / length
        edges = torch.logspace(math.log10(SPECTRUM_LOW), math.log10(fs / 2), SPECTRUM_BINS + 1, dtype=torch.float64)
        rows = (freqs >= edges[:-1, None]) & (freqs < edges[1:, None])
        rows[-1, -1] = True                                                    # fs/2 belongs to the last bin
        centres = (edges[:-1] * edges[1:]).sqrt()
        nearest = (freqs[None] - centres[:, None]).abs().argmin(-1)
        empty = ~rows.any(-1)
        rows[empty, nearest[empty]] = True
        rows = rows.double()
        _SPECTRUM_BINS[key] = rows / rows.sum(-1, keepdim=True)
    return _SPECTRUM_BINS[key]


def spectrum_shape(x: torch.Tensor, fs: float) -> torch.Tensor:
    """Spectral shape of a frame: its power spectrum averaged in :data:`SPECTRUM_BINS` log-spaced bins (40 Hz to
    ``fs/2``), ``log10``, minus the mean over the bins — level-free.  As a regulariser (``regularizers_list``) it
    matches the fine spectral balance of model output and target frame, which TexStat's 16 broad bands do not
    see (benchmarks/README.md, *Sound quality*: a model's fast envelope modulation filled the valleys between
    the spectral peaks of a rainforest recording by 5–6 dB).  Measured as a regulariser beside ``band_shapes``:
    better on some textures, worse on others, so no default uses it.

    Shape:
        ``(..., L) -> (..., SPECTRUM_BINS)``.

    >>> t = torch.arange(8192) / 16000
    >>> shape = spectrum_shape(torch.sin(2 * torch.pi * 1000 * t), 16000)
    >>> shape.shape, int(shape.argmax()) == int(48 * math.log(1000 / 40) / math.log(8000 / 40))
    (torch.Size([48]), True)
    """
    power = torch.fft.rfft(x, dim=-1).abs().pow(2)
    power = power / (power.sum(-1, keepdim=True) + 1e-20)
    binned = power @ _spectrum_bins(x.shape[-1], fs).to(x.device, power.dtype).T
    log = torch.log10(binned + 1e-10)
    return log - log.mean(-1, keepdim=True)


_MEASURES: dict[tuple, TexStat] = {}


def _measure(bank: FilterBank) -> TexStat:
    """The TexStat of ``bank``'s frames, bands and limits (built once per bank layout)."""
    key = (bank.length, bank.fs, bank.n_bands, bank.low, bank.high)
    if key not in _MEASURES:
        _MEASURES[key] = TexStat.for_bank(bank, STAT_MOD_BANDS)
    return _MEASURES[key]


def statistics_dim(n_bands: int, parts: tuple[str, ...] = STAT_PARTS) -> int:
    """Dimension of the ``statistics`` feature for ``n_bands`` bands."""
    pairs, m = n_bands * (n_bands - 1) // 2, STAT_MOD_BANDS
    sizes = {"S1": 3 * n_bands, "S2": pairs, "S3": n_bands * m, "S4": pairs * m, "S5": m * (m - 1) // 2 * n_bands}
    return sum(sizes[p] for p in parts)


def frame_statistics(x: torch.Tensor, bank: FilterBank, parts: tuple[str, ...] = STAT_PARTS) -> torch.Tensor:
    """The frame's own texture statistics as an O(1) feature vector.

    TexStat (book chapter *TexStat*) of ``bank``'s bands with :data:`STAT_MOD_BANDS` modulation bands: S1
    without the envelope mean (the level is ``energy_bands``' job) as ``log10 CV²``, ``asinh`` skewness and
    ``log10`` kurtosis (band-major); the correlations S2, S4, S5 and the modulation power S3 as they are (all
    within [−1, 1] or [0, 1]).  ``parts`` picks statistics (default all five).

    Shape:
        ``(..., L) -> (..., D)`` with ``D =`` :func:`statistics_dim` ``(N)``.
    """
    lead = x.shape[:-1]
    measure = _measure(bank).to(x.device, x.dtype)
    stats = dict(zip(STAT_NAMES, measure.statistics(x.reshape(-1, x.shape[-1])), strict=True))
    s1 = stats["S1"] / torch.tensor(measure.alpha, dtype=x.dtype, device=x.device)
    stats["S1"] = torch.stack([torch.log10(s1[..., 1] + 1e-3), torch.asinh(s1[..., 2]),
                               torch.log10(s1[..., 3] + 1e-3)], dim=-1).flatten(-2)
    return torch.cat([stats[p] for p in parts], dim=-1).reshape(*lead, -1)


def feature_dims(names: list[str] | tuple[str, ...], n_bands: int) -> list[int]:
    """Dimension of each named feature."""
    dims = {"energy_bands": n_bands, "band_shapes": n_bands * SHAPE_STEPS, "statistics": statistics_dim(n_bands),
            "spectrum_shape": SPECTRUM_BINS}
    return [dims.get(name, 1) for name in names]


def compute_features(x: torch.Tensor, names: list[str] | tuple[str, ...], bank: FilterBank) -> list[torch.Tensor]:
    """The named features of a batch of frames ``(..., L)``, one ``(..., dim)`` tensor each."""
    out = []
    for name in names:
        if name == "energy_bands":
            out.append(energy_bands(x, bank))
        elif name == "centroid":
            out.append(spectral_centroid(x, bank))
        elif name == "rate":
            out.append(onset_rate(x, bank.fs))
        elif name == "band_shapes":
            out.append(band_shapes(x, bank))
        elif name == "statistics":
            out.append(frame_statistics(x, bank))
        elif name == "spectrum_shape":
            out.append(spectrum_shape(x, bank.fs))
        elif name == "events":
            out.append(estimate_event_rate(x, bank.fs).unsqueeze(-1) / EVENTS_SCALE)
        else:
            raise ValueError(f"unknown feature {name!r}; choose from {', '.join(FEATURES)}")
    return out


def onset_candidates(x: torch.Tensor, fs: float, hop_s: float = 0.001, threshold: float = 0.6, lag: int = 2,
                     floor_db: float = 30.0) -> tuple[torch.Tensor, int]:
    """Hops of sharp energy rises: ``(..., n) -> (candidate (..., n // hop) bool, hop)``.

    The pre-emphasised signal is cut in hops of ``hop_s`` seconds; a hop is a candidate when its log10-energy
    exceeds the maximum of the ``lag`` previous hops by ``threshold`` (0.6 = 6 dB) and lies within ``floor_db``
    of the loudest hop.  Shared by :func:`estimate_event_rate` and the grain extraction of the P-VAE.
    """
    hop = max(1, int(round(fs * hop_s)))
    n = x.shape[-1] // hop
    emphasised = x - torch.roll(x, 1, -1)
    log_e = torch.log10(emphasised[..., : n * hop].reshape(*x.shape[:-1], n, hop).pow(2).mean(-1) + 1e-12)
    previous = torch.stack([torch.roll(log_e, k, -1) for k in range(1, lag + 1)]).amax(0)
    loud = log_e > log_e.amax(-1, keepdim=True) - floor_db / 10
    return (log_e - previous > threshold) & loud, hop


def estimate_event_rate(x: torch.Tensor, fs: float, hop_s: float = 0.001, threshold: float = 0.6, lag: int = 2,
                        dead: int = 5, floor_db: float = 30.0) -> torch.Tensor:
    """Estimate the rate (events/s) of impulsive events, e.g. drops, with a dead-time correction.

    Onset candidates come from :func:`onset_candidates`; candidates closer than ``dead`` hops merge into one
    onset.  Two events closer than the effective dead time ``τ = (dead + lag)·hop`` are counted once, so the
    measured rate ``m`` of a Poisson process of rate ``λ`` is ``m = λ / (1 + λτ)`` (non-paralysable counter),
    which is inverted: ``λ = m / (1 − mτ)``.

    Shape:
        ``(..., n) -> (...)``.
    """
    hop = max(1, int(round(fs * hop_s)))
    n = x.shape[-1] // hop
    if n < 4 * (lag + dead):
        raise ValueError(f"estimate_event_rate needs at least {4 * (lag + dead) * hop} samples, got {x.shape[-1]}")
    candidate, hop = onset_candidates(x, fs, hop_s, threshold, lag, floor_db)
    candidate = candidate.to(x.dtype)
    flat = candidate.reshape(-1, 1, n)
    padded = torch.nn.functional.pad(flat, (dead - 1, 0))
    merged = torch.nn.functional.max_pool1d(padded, dead, 1).reshape(candidate.shape)
    onsets = torch.relu(merged - torch.roll(merged, 1, -1)).sum(-1)
    measured = onsets / (x.shape[-1] / fs)
    tau = (dead + lag) * hop / fs
    return measured / torch.clamp(1 - measured * tau, min=0.05)
