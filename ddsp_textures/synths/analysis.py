"""TexEnv analysis and the DSP resynthesis (book chapter: *TexEnv synth*): the first Fourier coefficients of each
band's Hilbert envelope, a bounded band-energy fit, and analysis → synthesis of a whole signal with its transient
layer chosen by one rule (:func:`choose_transients`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import numpy as np
import torch

from ddsp_textures._deprecated import renamed_keywords
from ddsp_textures.dsp.baseband import envelope_coefficients
from ddsp_textures.dsp.filterbanks import FilterBank
from ddsp_textures.dsp.framing import half_overlap_frames, overlap_add, random_shifts
from ddsp_textures.dsp.spectral import equalize_to, long_term_spectrum
from ddsp_textures.metrics import closest_candidate, per_frame_distances
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths.carriers import make_carriers
from ddsp_textures.synths.texenv import texenv_synthesis
from ddsp_textures.synths.transients import DETECTORS, analyze_transients, detector, synthesize_transients

MAX_GAIN_DB = 12.0      # the band-energy fit's bound (match_band_energies), texenv_resynthesize's default
N_ATOMS = 32            # atoms of a transient layer's dictionary, texenv_resynthesize's default


def texenv_analysis(x: torch.Tensor, bank: FilterBank, n_coeffs: int) -> torch.Tensor:
    """First ``n_coeffs`` rfft coefficients (ortho) of each band's Hilbert envelope, each band's analytic signal
    taken on its own small grid (:func:`~ddsp_textures.dsp.baseband.envelope_coefficients`: 10× faster than the
    full-rate envelopes at ``L = 2¹⁵``, within 0.3 % of them).

    Shape:
        ``(..., L) -> (..., N, P)`` complex.
    """
    return envelope_coefficients(x, bank, n_coeffs)


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
                        steps: int = 50, max_gain_db: float = MAX_GAIN_DB) -> torch.Tensor:
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


@renamed_keywords(equalise="equalize")
def texenv_resynthesize(x: torch.Tensor, bank: FilterBank, param_per_env: int, carriers: torch.Tensor | None = None,
                        match_energy: bool = False, generator: torch.Generator | None = None,
                        max_gain_db: float = MAX_GAIN_DB, transients: bool | str = "auto",
                        n_atoms: int = N_ATOMS, equalize: bool = True) -> torch.Tensor:
    """DSP analysis→synthesis of a whole signal (no network), book chapter *TexEnv synth*.

    Frames of ``L = bank.length`` with hop ``L/2`` are analysed to ``param_per_env // 2`` coefficients per
    band, synthesised with carriers shifted by a random offset per frame, and overlap-added with the
    power-complementary ``sqrt_hann`` window, so envelopes stay time-aligned with the input.  Without a
    ``carriers``, carriers are made for this signal: their in-band spectrum follows its long-term spectrum
    (:func:`make_carriers` with :func:`~ddsp_textures.dsp.spectral.long_term_spectrum`).  ``match_energy`` adds the
    bounded band-energy fit (:func:`match_band_energies`); measured on real recordings it did not help TexStat
    or the long-term spectrum once the carriers sum flat, so it is off by default.

    ``transients=True`` first takes the clicks out (:func:`~ddsp_textures.synths.transients.analyze_transients`,
    a dictionary of ``n_atoms`` atoms cut from ``x``): the TexEnv analysis, and the carriers' spectrum, see only
    the residual bed, and the events are added back as waveforms.  A detector name (``"clicks"``, the same as
    ``True``, or ``"knocks"``: sparser, broader events, see
    :data:`~ddsp_textures.synths.transients.DETECTORS`) picks the detection settings.  ``"auto"`` (default)
    compares the resyntheses without a layer and with each detector and keeps the one whose frames are closer to
    ``x`` in TexStat (:func:`choose_transients`; on a probe of a few frames where ``x`` is long, then renders
    only that one): "clicks" wins on crackles, drops and claps, "knocks" on a train's clatter, no layer on steady
    noise.

    ``equalize`` (default) filters the result so that its long-term spectrum follows ``x``'s within ±6 dB
    (:func:`~ddsp_textures.dsp.spectral.equalize_to`, 1/6-octave smoothing): envelope modulation spreads each band's
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

    render = _renderer(bank, param_per_env, carriers, match_energy, generator, max_gain_db, n_atoms, equalize)
    if transients == "auto":
        return choose_transients(x, render, bank)
    y = None if transients is False else render(transients, x)
    return render(False, x) if y is None else y


Render = Callable[[str | bool, torch.Tensor], torch.Tensor | None]


def _renderer(bank: FilterBank, param_per_env: int, carriers: torch.Tensor | None, match_energy: bool,
              generator: torch.Generator | None, max_gain_db: float, n_atoms: int, equalize: bool) -> Render:
    """``render(name, signal)``: the DSP resynthesis of ``signal`` with ``name``'s layer (``False``: none;
    ``None`` where a detector finds no event).  Every call draws what a call of :func:`texenv_resynthesize` with
    ``transients=name`` would, so "auto" gives exactly that call's output."""
    start = None if generator is None else generator.get_state()

    def render(name: str | bool, signal: torch.Tensor) -> torch.Tensor | None:
        if start is not None:
            generator.set_state(start)
        if name is False:
            y = _resynthesize_bed(signal, bank, param_per_env, carriers, match_energy, generator, max_gain_db)
        else:
            layer, residual = analyze_transients(signal, bank.fs, n_atoms, generator=generator, **detector(name))
            if layer.times.numel() == 0:
                return None
            y = _resynthesize_bed(residual.to(signal.device, signal.dtype), bank, param_per_env, carriers,
                                  match_energy, generator, max_gain_db)
            y = y + synthesize_transients(layer).to(signal.device, signal.dtype)
        return equalize_to(y, signal, bank.fs) if equalize else y

    return render


def transient_choice(x: torch.Tensor, bank: FilterBank, param_per_env: int, seed: int = 0) -> str | bool:
    """The layer that the DSP resynthesis of ``x`` keeps with ``transients="auto"`` (:func:`choose_transients`):
    ``False`` (none) or a detector name of :data:`~ddsp_textures.synths.transients.DETECTORS`.  What a trained
    model's generation places over its bed by default (:func:`~ddsp_textures.inference.generation.generate`):
    the layer that brings a noise-carrier resynthesis of the reference closest to it.

    Shape:
        ``x (n,)``, a mono signal at ``bank.fs``; inputs shorter than one frame get ``False``.
    """
    if x.dim() != 1 or not x.is_floating_point() or not torch.isfinite(x).all():
        raise ValueError("expected a finite, floating-point mono signal (1-D tensor)")
    key = (_digest(x), _digest(bank.filters), float(bank.fs), int(param_per_env), int(seed))
    if key not in _CHOICES:          # the same reference again (a slider, a loop of calls): no second search
        render = _renderer(bank, param_per_env, carriers=None, match_energy=False,       # texenv_resynthesize's
                           generator=torch.Generator().manual_seed(seed), max_gain_db=MAX_GAIN_DB,  # defaults
                           n_atoms=N_ATOMS, equalize=True)
        while len(_CHOICES) >= MAX_CHOICES:
            del _CHOICES[next(iter(_CHOICES))]
        _CHOICES[key] = _choose(x, render, bank)[0]
    return _CHOICES[key]


MAX_CHOICES = 16
_CHOICES: dict[tuple, str | bool] = {}


def _digest(t: torch.Tensor) -> str:
    """A content hash of a tensor (its dtype, shape and bytes)."""
    data = t.detach().cpu().contiguous()
    return hashlib.sha1(f"{data.dtype}{tuple(data.shape)}".encode() + data.numpy().tobytes()).hexdigest()


PROBE_FRAMES = 4        # frames of the bank's length on which "auto" compares its candidates (for long inputs)
PROBE_FADE_S = 0.01     # equal-power crossfade between the probe's pieces
PROBE_T = 1.5           # the probe decides when its closest candidate leads the next by this many standard errors
PROBE_SAME = 0.03       # ... or when the two are this close on every frame


def probe_excerpt(x: torch.Tensor, length: int, fs: float, pieces: int = PROBE_FRAMES) -> torch.Tensor:
    """``pieces`` stretches of ``length`` samples from evenly spaced places in ``x`` (the first at its start, the
    last at its end), joined by equal-power crossfades of ``PROBE_FADE_S``: an excerpt of ``pieces · length``
    samples (plus one fade) that hears the whole signal, on which :func:`choose_transients` compares its
    candidates.

    Shape:
        ``(n,) -> (pieces · length + fade,)`` with ``n ≥ pieces · length + fade``.

    >>> x = torch.arange(100.0)
    >>> y = probe_excerpt(x, 10, 200.0, pieces=3)
    >>> y.shape[0], y[:2].tolist(), y[-2:].tolist()
    (32, [0.0, 1.0], [98.0, 99.0])
    """
    fade = max(1, int(round(PROBE_FADE_S * fs)))
    piece = length + fade
    if pieces < 2 or x.shape[-1] < pieces * piece:
        raise ValueError(f"a probe of {pieces} pieces of {piece} samples needs at least {pieces * piece} samples, "
                         f"got {x.shape[-1]}")
    starts = torch.linspace(0, x.shape[-1] - piece, pieces).round().long().tolist()
    ramp = torch.sin(0.5 * math.pi * (torch.arange(fade, dtype=torch.float64) + 0.5) / fade).to(x.device, x.dtype)
    out = torch.zeros(pieces * length + fade, dtype=x.dtype, device=x.device)
    for k, s in enumerate(starts):
        segment = x[s: s + piece].clone()
        if k > 0:
            segment[:fade] *= ramp
        if k < pieces - 1:
            segment[-fade:] *= ramp.flip(0)
        out[k * length: k * length + piece] += segment
    return out


def choose_transients(x: torch.Tensor, render: Render, bank: FilterBank) -> torch.Tensor:
    """``transients="auto"``, the one chooser of the DSP and the model resyntheses.  ``render(name, signal)`` is
    the resynthesis of ``signal`` without a layer (``name=False``) or with a detector's of
    :data:`~ddsp_textures.synths.transients.DETECTORS` (``None`` where it found no event).  The candidates are
    compared by how close their frames are to the signal's in TexStat with ``bank``'s frame size and bands
    (mean over frames, :func:`~ddsp_textures.metrics.closest_candidate`; the first wins ties).  An input of at
    least ``2 · PROBE_FRAMES`` frames is compared on a :func:`probe_excerpt` of ``PROBE_FRAMES`` frames; where
    the closest is surely ahead of the next (a paired t statistic of ``PROBE_T`` over the probe's frames) or the
    two are the same, only it is rendered in full (one resynthesis of the whole input instead of three);
    otherwise the two closest are, and compared on the whole input.  Against the
    search over whole inputs: ``benchmarks/eval_chooser.py``.  Without a whole frame of ``x``, no layer.
    Returns exactly ``render(choice, x)``."""
    return _choose(x, render, bank)[1]


def _choose(x: torch.Tensor, render: Render, bank: FilterBank) -> tuple[str | bool, torch.Tensor]:
    """:func:`choose_transients` with the name of its choice: ``(name, render(name, x))``."""
    names: list[str | bool] = [False, *DETECTORS]
    if x.shape[-1] < bank.length:
        return False, render(False, x)
    if x.shape[-1] // bank.length < 2 * PROBE_FRAMES:
        rendered = [(name, y) for name in names if (y := render(name, x)) is not None]
        return _closest(x, rendered, bank)
    probe = probe_excerpt(x, bank.length, bank.fs)
    trials = [(name, y) for name in names if (y := render(name, probe)) is not None]
    scores = per_frame_distances(TexStat.for_bank(bank).to(x.device), probe, [y for _, y in trials])
    order = sorted(range(len(trials)), key=lambda i: float(scores[i].mean()))
    if len(trials) > 1 and not _probe_decides(scores[order[0]], scores[order[1]]):
        finalists = [(name, y) for name, _ in (trials[i] for i in order[:2]) if (y := render(name, x)) is not None]
        return _closest(x, finalists, bank) if finalists else (False, render(False, x))
    name = trials[order[0]][0]
    full = render(name, x)
    return (False, render(False, x)) if full is None else (name, full)


def _closest(x: torch.Tensor, rendered: list[tuple[str | bool, torch.Tensor]], bank: FilterBank
             ) -> tuple[str | bool, torch.Tensor]:
    """The ``(name, output)`` whose output is closest to ``x`` (:func:`~ddsp_textures.metrics.closest_candidate`;
    the first wins ties)."""
    best = closest_candidate(x, [y for _, y in rendered], bank)
    return next((name, y) for name, y in rendered if y is best)


def _probe_decides(best: np.ndarray, second: np.ndarray) -> bool:
    """Whether the probe's closest candidate can be kept without rendering the next in full: it is ahead on the
    probe's frames by ``PROBE_T`` standard errors of the frame-by-frame difference (a paired t statistic), or the
    two are the same within ``PROBE_SAME`` of its score on every frame (then the choice does not matter)."""
    diff = second - best
    spread = float(diff.std(ddof=1)) / len(diff) ** 0.5
    return float(diff.mean()) >= PROBE_T * spread or float(abs(diff).max()) <= PROBE_SAME * float(best.mean())


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
