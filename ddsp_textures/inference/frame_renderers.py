"""Frame renderers of the stream (book chapter: *DDSP training*, section *Play it live*): one per
architecture, each turning a frame's encoder inputs into one whole frame of audio in stages that
:class:`~ddsp_textures.inference.streaming.StreamCore` spreads over its blocks — :meth:`prepare` (the networks
and every random draw of the frame), :attr:`parts` synthesis stages (:meth:`part`) and :meth:`finish`.

Every renderer is TorchScript.  Its networks are one module (:class:`TexDSPNetwork`, :class:`EventNetwork`) with
no random draw inside, which :func:`~ddsp_textures.inference.export.scripted_stream` traces for one frame; the
draws (carrier shifts, Poisson events, dictionary atoms, background noise) are scripted, from the frame's own
generator, so the library's stream and the exported file draw the same numbers.
"""

import math
import warnings
from collections.abc import Callable
from typing import Final

import torch
from torch import nn

from ddsp_textures.dsp.filterbanks import one_sided_weights
from ddsp_textures.dsp.framing import FADE_SECONDS, rms, zscore
from ddsp_textures.models import HybridModel, PVAEModel, TexDSP
from ddsp_textures.models.pvae import measured_rate
from ddsp_textures.stats.features import feature_dims
from ddsp_textures.synths.bed_equalizer import equalize_frames
from ddsp_textures.synths.events import sparse_hard_events
from ddsp_textures.synths.pvae import atoms_at, expected_event_power, mix_with_share, shaped_noise

PART_SAMPLES = 2**17         # TexEnv band samples (bands × frame length) synthesised per stage of a frame

StreamModel = TexDSP | PVAEModel | HybridModel

# A frame's plan (what prepare() returns for the later stages) is a list of tensors, a type TorchScript can keep in
# the stream's state; each renderer names its slots as constants (Final class attributes: TorchScript inlines those,
# not module globals).


def _next_shift(previous: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """The next whole frame's carrier shift: uniform for the first frame, then the previous one moved by a delay
    in ``[L/4, 3L/4)`` minus the hop ``L`` (:func:`~ddsp_textures.dsp.framing.random_shifts`)."""
    if int(previous[0]) < 0:
        return torch.randint(0, length, (1,), generator=generator)
    delay = torch.randint(length // 4, length - length // 4, (1,), generator=generator)
    return (previous + delay - length) % length


def join_chunk(frame: torch.Tensor, fade: int, start: int) -> torch.Tensor:
    """An L-periodic frame rotated to start near ``start``, at the quietest of 32 points within ``±L/16``
    (:func:`~ddsp_textures.dsp.framing.rotate_frames`), then laid out for overlap-add as
    :func:`~ddsp_textures.dsp.framing.join_circular` joins frames: ``(L + fade,)`` — faded in over its first
    ``fade`` samples, followed by its own periodic continuation faded out."""
    length = frame.shape[0]
    power = frame.double().pow(2)
    padded = torch.cat([power[length - fade:], power, power[:fade]])
    cumulative = torch.nn.functional.pad(padded.cumsum(0), [1, 0])
    energy = cumulative[2 * fade: 2 * fade + length] - cumulative[:length]
    reach = length / 16
    offsets = torch.linspace(-reach, reach, 32).round().long()
    starts = (start + offsets) % length
    best = starts[int(energy[starts].argmin())]
    rotated = torch.roll(frame, -int(best))
    t = (torch.arange(fade, dtype=frame.dtype) + 1) / fade
    fade_in, fade_out = torch.sin(0.5 * math.pi * t), torch.cos(0.5 * math.pi * t)
    return torch.cat([rotated[:fade] * fade_in, rotated[fade:], rotated[:fade] * fade_out])


def bands_per_part(n_bands: int, frame_size: int) -> int:
    """TexEnv bands per synthesis stage: :data:`PART_SAMPLES` samples' worth (at least one band).  On a CPU an
    FFT call costs about as much as a few more bands in the same call, until the batch outgrows the cache
    (benchmarks/README.md, *Streaming*)."""
    return max(1, min(n_bands, PART_SAMPLES // frame_size))


def _band_group(coeffs: torch.Tensor, carriers: torch.Tensor, shift: int, target: torch.Tensor, low: int,
                high: int, specific: bool) -> torch.Tensor:
    """Bands ``low … high − 1`` of a TexEnv frame summed (:func:`~ddsp_textures.synths.texenv.texenv_synthesis`,
    with per-band loudness where ``specific``, as :func:`~ddsp_textures.synths.texenv.normalize_loudness`):
    ``coeffs (N, P)`` complex, ``carriers (N, L)`` → ``(L,)``.  The carriers are shifted by ``shift`` samples:
    the envelopes are advanced by ``shift`` instead (a phase ramp on their coefficients) and the sum delayed by
    it, so no shifted copy of the carriers is made."""
    length, n = carriers.shape[-1], coeffs.shape[-1]
    turns = (torch.arange(n, dtype=torch.float64) * shift) % length * (2.0 * math.pi / length)
    ramp = torch.polar(torch.full([n], math.sqrt(length), dtype=torch.float64), turns).to(coeffs.dtype)
    bands = torch.fft.irfft(coeffs[low:high] * ramp, n=length, dim=-1) * carriers[low:high]
    if specific:
        bands = bands * (target[low:high] / rms(bands)).unsqueeze(-1)
    return torch.roll(bands.sum(0), shift)


def _equalizer(renderer: nn.Module, gains: torch.Tensor | None, frame_size: int) -> bool:
    """Register the bed's equaliser on ``renderer`` as ``bed_eq`` (flat where ``gains`` is ``None``); whether it
    filters anything (:func:`~ddsp_textures.synths.bed_equalizer.equalize_frames`)."""
    flat = torch.ones(frame_size // 2 + 1)
    renderer.register_buffer("bed_eq", flat if gains is None else gains.detach().float().cpu().clone())
    return bool((renderer.bed_eq != 1.0).any())


class TexDSPNetwork(nn.Module):
    """A TexDSP model's networks for one whole frame (traceable): concatenated features ``(1, S, D)`` and GRU
    state ``(1, 1, H)`` → the frame's TexEnv coefficients ``(N, P)`` (complex) and the new state."""

    def __init__(self, model: TexDSP) -> None:
        super().__init__()
        self.model = model
        self.dims = feature_dims(model.feature_names, model.n_bands)

    def forward(self, feats: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent, state = self.model.encode(list(torch.split(feats, self.dims, dim=-1)), state)
        return self.model.decode(latent[:, -1:])[0, 0], state


class TexDSPRenderer(nn.Module):
    """Whole TexEnv frames of a TexDSP model (TorchScript, with :class:`TexDSPNetwork` traced or not), in
    stages that a stream spreads over its blocks: :meth:`prepare` (the networks and every random draw),
    :attr:`parts` groups of :func:`bands_per_part` bands (:meth:`part`), :meth:`finish` (loudness, rotation,
    crossfade layout).  State: ``[GRU state, previous carrier shift]``."""

    COEFFS: Final[int] = 0          # the plan's slots
    TARGET: Final[int] = 1
    SHIFT: Final[int] = 2
    START: Final[int] = 3

    def __init__(self, net: nn.Module, carriers: torch.Tensor, specific: bool, fade: int, hidden: int,
                 bed_eq: torch.Tensor | None = None) -> None:
        super().__init__()
        self.net, self.specific, self.fade, self.hidden = net, specific, fade, hidden
        self.register_buffer("carriers", carriers.detach().float().clone())
        self.equalize = _equalizer(self, bed_eq, carriers.shape[-1])
        self.frame_size, self.n_bands = carriers.shape[-1], carriers.shape[0]
        self.bands_per_part = bands_per_part(self.n_bands, self.frame_size)
        self.parts = -(-self.n_bands // self.bands_per_part)

    @torch.jit.export
    def initial_state(self) -> list[torch.Tensor]:
        return [torch.zeros(1, 1, self.hidden), torch.full((1,), -1, dtype=torch.long)]

    @torch.jit.export
    def prepare(self, feats: torch.Tensor, state: list[torch.Tensor], target: torch.Tensor,
                generator: torch.Generator) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``[coefficients, target, shift, rotation start]`` of the frame, and the new state."""
        shift = _next_shift(state[1], self.frame_size, generator)
        coeffs, gru = self.net(feats, state[0])
        start = torch.randint(0, self.frame_size, (1,), generator=generator)
        return [coeffs, target, shift, start], [gru, shift]

    @torch.jit.export
    def part(self, plan: list[torch.Tensor], k: int) -> torch.Tensor:
        low = k * self.bands_per_part
        return _band_group(plan[self.COEFFS], self.carriers, int(plan[self.SHIFT][0]), plan[self.TARGET], low,
                           min(low + self.bands_per_part, self.n_bands), self.specific)

    @torch.jit.export
    def finish(self, plan: list[torch.Tensor], frame: torch.Tensor) -> torch.Tensor:
        if not self.specific:
            frame = frame * (plan[self.TARGET].reshape(()) / rms(frame))
        if self.equalize:
            frame = equalize_frames(frame, self.bed_eq)
        return join_chunk(frame, self.fade, int(plan[self.START][0]))



class EventNetwork(nn.Module):
    """A P-VAE's or a hybrid's networks for one frame (traceable; no random draw): concatenated features
    ``(1, S, D)`` and GRU state ``(1, 1, H)`` → the frame's event rate ``()``, amplitude exponent ``α ()``, the
    grains of its ``K`` event types — for the ``"atom"`` draw their weights over the dictionary ``(K, J)`` and
    band gains in log10 ``(K, N_g + 2)``, for the ``"mixture"`` draw their decoded grains ``(K, m)`` (the other
    pair empty) —, and for a hybrid its event gain ``()`` and bed coefficients ``(N, P)``; then the new state.

    A P-VAE reads the controls of the frame's first step, a hybrid those of its last (the step its bed
    decodes), as :meth:`~ddsp_textures.models.PVAEModel.stream` and
    :meth:`~ddsp_textures.models.HybridModel.synthesize` do."""

    def __init__(self, model: PVAEModel | HybridModel) -> None:
        super().__init__()
        self.model = model
        self.dims = feature_dims(model.feature_names, model.n_bands)
        self.bed = bool(model.has_carriers)               # a hybrid: a TexEnv bed under the events

    def forward(self, feats: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        model, vae = self.model, self.model.vae
        parts = list(torch.split(feats, self.dims, dim=-1))
        latent, state = model.encoder(parts, state)
        if self.bed:
            latent, parts = latent[:, -1:], [p[:, -1:] for p in parts]
        c = model.head.controls(latent, measured_rate(model.feature_names, parts), model.encoder.network_dtype)
        latents = c.latents[0, 0]
        empty = latents.new_zeros(0)
        weights, log_gains, grains, gain, coeffs = empty, empty, empty, empty, empty
        if vae.draw == "atom":
            weights, log_gains = vae.mixture(latents)
        else:
            grains = vae.decode(latents)
        if self.bed:
            gain = c.gain[0, 0] if model.events_enabled else 0.0 * c.gain[0, 0]
            coeffs = model.decode(latent)[0, 0]
        return c.rate[0, 0], c.alpha[0, 0], weights, log_gains, grains, gain, coeffs, state


class EventDraws(nn.Module):
    """A frame's hard events (TorchScript), drawn in the order
    :func:`~ddsp_textures.synths.pvae.pvae_synthesis` draws them: Bernoulli events per type and sample
    (:func:`~ddsp_textures.synths.events.sparse_hard_events`: counts, times, amplitudes), then for the ``"atom"``
    draw one dictionary grain per event (:func:`~ddsp_textures.synths.pvae.drawn_grains`).  The draws
    (:meth:`forward`) and the deterministic work on them (:meth:`shape`: each atom under its type's band gains
    and the grain window, as :meth:`~ddsp_textures.synths.pvae.GrainVAE.shape_grains`; :meth:`energy`) are
    apart, so that a stream can do them in different blocks."""

    def __init__(self, model: PVAEModel | HybridModel) -> None:
        super().__init__()
        vae = model.vae
        self.atoms, self.frame_size, self.fs = int(model.atoms), int(model.frame_size), float(model.fs)
        atom = vae.draw == "atom"
        self.size = int(vae.dictionary.shape[-1]) if atom else 0
        spectra = torch.fft.rfft(vae.dictionary.detach().float(), dim=-1) if atom else torch.zeros(0, 0) + 0j
        self.register_buffer("spectra", spectra)                                   # the atoms' spectra (J, F)
        self.register_buffer("band_filters", vae.bank.filters.float().pow(2) if atom else torch.zeros(0, 0))
        self.register_buffer("window", vae.window.detach().float().clone())

    def forward(self, rate: torch.Tensor, alpha: torch.Tensor, weights: torch.Tensor, grains: torch.Tensor,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The draws: start times ``(E,)``, grain types ``(E,)``, amplitudes ``(E, 1)`` and, for the ``"atom"``
        draw, the dictionary index of each event's grain ``(E,)`` (else empty)."""
        per_type = (rate / self.atoms).reshape(1).expand(self.atoms)
        kind, at, amplitude = sparse_hard_events(per_type, alpha.reshape(1).expand(self.atoms), self.frame_size,
                                                 self.fs, generator)
        amplitude = amplitude.unsqueeze(-1)
        if weights.numel() == 0:                                   # the "mixture" draw: the decoded grain
            return at, kind, amplitude, kind.new_zeros(0)
        picked = weights[kind]
        r = torch.rand([picked.shape[0]], generator=generator, dtype=picked.dtype)
        return at, kind, amplitude, atoms_at(picked, r)

    @torch.jit.export
    def shape(self, kind: torch.Tensor, amplitude: torch.Tensor, chosen: torch.Tensor, log_gains: torch.Tensor,
              grains: torch.Tensor) -> torch.Tensor:
        """The events' grains scaled by their amplitudes ``(E, m)``: dictionary atoms ``chosen`` under their
        type's band gains, or (the ``"mixture"`` draw) their type's decoded grain."""
        if log_gains.numel() == 0:
            return amplitude * grains[kind]
        if chosen.numel() == 0:
            return amplitude.new_zeros(0, self.size)
        response = torch.pow(10.0, log_gains[kind]).to(self.window.dtype) @ self.band_filters
        shaped = torch.fft.irfft(self.spectra[chosen] * response, n=self.size, dim=-1) * self.window
        return amplitude * shaped

    @torch.jit.export
    def energy(self, weights: torch.Tensor, log_gains: torch.Tensor, grains: torch.Tensor) -> torch.Tensor:
        """Each grain type's mean event energy ``(K,)``, as :func:`~ddsp_textures.synths.pvae.type_energy`."""
        if log_gains.numel() == 0:
            return grains.pow(2).sum(-1)
        response = (torch.pow(10.0, log_gains).to(self.window.dtype) @ self.band_filters).unsqueeze(-2)
        shaped = torch.fft.irfft(self.spectra * response, n=self.size, dim=-1) * self.window
        return (weights * shaped.pow(2).sum(-1)).sum(-1)


def place_events(at: torch.Tensor, grains: torch.Tensor, n: int, circular: bool) -> torch.Tensor:
    """Grains ``(E, m)`` starting at ``at (E,)``, added one by one as the events are few: ``(n,)`` circular, else
    ``(n + m − 1,)`` (:func:`~ddsp_textures.synths.events.place_grains` for hard events)."""
    m = grains.shape[-1]
    size = n if circular else n + m - 1
    out = torch.zeros(size, dtype=grains.dtype)
    if at.numel() == 0:
        return out
    index = at.unsqueeze(-1) + torch.arange(m)
    if circular:
        index = index % n
    return out.index_add_(0, index.reshape(-1), grains.reshape(-1))


def set_band_rms(x: torch.Tensor, target: torch.Tensor, filters: torch.Tensor, weights: torch.Tensor,
                 eps: float = 1e-8, response: torch.Tensor | None = None) -> torch.Tensor:
    """:meth:`~ddsp_textures.dsp.filterbanks.FilterBank.set_band_rms` of one frame ``(L,)`` (TorchScript):
    ``target (N + 2,)``, the bank's squared responses ``filters (N + 2, F)`` and its
    :func:`~ddsp_textures.dsp.filterbanks.one_sided_weights` ``(F,)``; then, in the same inverse FFT, a
    zero-phase ``response (F,)`` (the bed's equaliser,
    :func:`~ddsp_textures.synths.bed_equalizer.equalize_frames`) where one is given.

    >>> from ddsp_textures.dsp.filterbanks import FilterBank
    >>> bank = FilterBank(1024, 16000, 6, 50, 8000)
    >>> x, target = torch.randn(1024), torch.rand(8) + 0.1
    >>> y = set_band_rms(x, target, bank.filters.float().pow(2), one_sided_weights(1024, torch.float32))
    >>> bool(torch.allclose(y, bank.set_band_rms(x, target), atol=1e-5))
    True
    """
    length = x.shape[-1]
    spectrum = torch.fft.rfft(x, dim=-1)
    power = (spectrum.abs().pow(2) * weights) @ filters.T / length**2
    gains = target / (power.sqrt() + eps)
    shaping = gains @ filters
    if response is not None:
        shaping = shaping * response
    return torch.fft.irfft(spectrum * shaping, n=length, dim=-1)


class HybridRenderer(nn.Module):
    """Whole frames of a hybrid model: the TexEnv bed plus hard P-VAE events, given as a whole the band RMS
    target (as :meth:`~ddsp_textures.models.HybridModel.synthesize`), joined as TexDSP frames are.  Stages:
    the networks and every draw, the events (their grains shaped and placed), one per group of bed bands
    (:func:`bands_per_part`), then the mix, its band-RMS filter and the crossfade layout.  A part is
    ``(2, L)``: bed, events.  State: ``[GRU state, previous carrier shift]``."""

    COEFFS: Final[int] = 0          # the plan's slots: the bed's, then the events'
    TARGET: Final[int] = 1
    SHIFT: Final[int] = 2
    START: Final[int] = 3
    EVENT_GAIN: Final[int] = 4
    TIMES: Final[int] = 5
    TYPES: Final[int] = 6
    AMPLITUDES: Final[int] = 7
    ATOMS: Final[int] = 8
    BAND_GAINS: Final[int] = 9
    GRAINS: Final[int] = 10

    def __init__(self, model: HybridModel, fade: int, network: nn.Module | None = None) -> None:
        super().__init__()
        self.net = EventNetwork(model) if network is None else network
        self.draws = EventDraws(model)
        self.fade, self.hidden = fade, model.encoder.gru.hidden_size
        self.frame_size, self.n_bands = int(model.frame_size), int(model.n_bands)
        self.bands_per_part = bands_per_part(self.n_bands, self.frame_size)
        self.parts = 1 + -(-self.n_bands // self.bands_per_part)
        self.register_buffer("carriers", model.synth.carriers.detach().float().clone())
        self.register_buffer("band_filters", model.bank.filters.float().pow(2))
        self.register_buffer("parseval", one_sided_weights(self.frame_size, torch.float32))
        self.equalize = _equalizer(self, model.bed_eq, self.frame_size)

    @torch.jit.export
    def initial_state(self) -> list[torch.Tensor]:
        return [torch.zeros(1, 1, self.hidden), torch.full((1,), -1, dtype=torch.long)]

    @torch.jit.export
    def prepare(self, feats: torch.Tensor, state: list[torch.Tensor], target: torch.Tensor,
                generator: torch.Generator) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``[coefficients, target, shift, rotation start, event gain, event times, types, amplitudes, atoms,
        band gains, decoded grains]``."""
        shift = _next_shift(state[1], self.frame_size, generator)
        rate, alpha, weights, log_gains, grains, gain, coeffs, gru = self.net(feats, state[0])
        at, kind, amplitude, chosen = self.draws(rate, alpha, weights, grains, generator)
        start = torch.randint(0, self.frame_size, (1,), generator=generator)
        return [coeffs, target, shift, start, gain, at, kind, amplitude, chosen, log_gains, grains], [gru, shift]

    @torch.jit.export
    def part(self, plan: list[torch.Tensor], k: int) -> torch.Tensor:
        out = torch.zeros(2, self.frame_size)
        if k == 0:
            events = self.draws.shape(plan[self.TYPES], plan[self.AMPLITUDES], plan[self.ATOMS],
                                      plan[self.BAND_GAINS], plan[self.GRAINS])
            out[1] = place_events(plan[self.TIMES], events, self.frame_size, True)
        else:
            low = (k - 1) * self.bands_per_part
            out[0] = _band_group(plan[self.COEFFS], self.carriers, int(plan[self.SHIFT][0]), plan[self.TARGET], low,
                                 min(low + self.bands_per_part, self.n_bands), False)
        return out

    @torch.jit.export
    def finish(self, plan: list[torch.Tensor], frame: torch.Tensor) -> torch.Tensor:
        mix = frame[0] + plan[self.EVENT_GAIN] * zscore(frame[1])
        response = self.bed_eq if self.equalize else None       # the bed's equaliser, in the same inverse FFT
        matched = set_band_rms(mix, plan[self.TARGET].reshape(-1), self.band_filters, self.parseval, 1e-8, response)
        return join_chunk(matched, self.fade, int(plan[self.START][0]))


class PVAERenderer(nn.Module):
    """Consecutive P-VAE frames with hard events, each at its target RMS, followed by its grain tail
    (as :meth:`~ddsp_textures.models.PVAEModel.stream`).  Stages: the networks and every draw, the events
    (their grains shaped and placed), then the gain (and the background's filter and mix).  State:
    ``[GRU state]``."""

    TARGET: Final[int] = 0          # the plan's slots
    TIMES: Final[int] = 1
    TYPES: Final[int] = 2
    AMPLITUDES: Final[int] = 3
    ATOMS: Final[int] = 4
    BAND_GAINS: Final[int] = 5
    GRAINS: Final[int] = 6
    NOISE: Final[int] = 7
    RATE: Final[int] = 8
    ALPHA: Final[int] = 9
    WEIGHTS: Final[int] = 10

    def __init__(self, model: PVAEModel, network: nn.Module | None = None) -> None:
        super().__init__()
        self.net = EventNetwork(model) if network is None else network
        self.draws = EventDraws(model)
        self.parts, self.hidden, self.frame_size = 1, model.encoder.gru.hidden_size, int(model.frame_size)
        self.fs, self.has_background = float(model.fs), bool(model.has_background)
        background = model.background if self.has_background else torch.zeros(0)
        share = model.background_share if self.has_background else torch.zeros(())
        self.register_buffer("background", background.detach().float().clone())
        self.register_buffer("share", share.detach().float().clone())

    @torch.jit.export
    def initial_state(self) -> list[torch.Tensor]:
        return [torch.zeros(1, 1, self.hidden)]

    @torch.jit.export
    def prepare(self, feats: torch.Tensor, state: list[torch.Tensor], target: torch.Tensor,
                generator: torch.Generator) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``[target RMS, event times, types, amplitudes, atoms, band gains, decoded grains, white noise,
        rate, α, dictionary weights]``: the networks and the draws; the grains are shaped in the next stage,
        the background filtered and the events' expected power found in the last."""
        rate, alpha, weights, log_gains, grains, _, _, gru = self.net(feats, state[0])
        at, kind, amplitude, chosen = self.draws(rate, alpha, weights, grains, generator)
        noise = torch.randn([self.frame_size], generator=generator) if self.has_background else torch.zeros(0)
        return [target, at, kind, amplitude, chosen, log_gains, grains, noise, rate, alpha, weights], [gru]

    @torch.jit.export
    def part(self, plan: list[torch.Tensor], k: int) -> torch.Tensor:
        events = self.draws.shape(plan[self.TYPES], plan[self.AMPLITUDES], plan[self.ATOMS], plan[self.BAND_GAINS],
                                  plan[self.GRAINS])
        return place_events(plan[self.TIMES], events, self.frame_size, False)

    @torch.jit.export
    def finish(self, plan: list[torch.Tensor], frame: torch.Tensor) -> torch.Tensor:
        if plan[self.NOISE].numel() > 0:              # the background (PVAEModel.with_background)
            noise = shaped_noise(plan[self.NOISE], self.background)
            energy = self.draws.energy(plan[self.WEIGHTS], plan[self.BAND_GAINS], plan[self.GRAINS])
            power = expected_event_power(plan[self.RATE], plan[self.ALPHA], energy, self.fs)
            return mix_with_share(frame, noise, self.share, power)[0] * plan[self.TARGET].reshape(())
        return frame * (plan[self.TARGET].reshape(()) / (rms(frame[:self.frame_size]) + 1e-8))


RENDERERS: dict[str, Callable[[StreamModel, int, nn.Module | None], nn.Module]] = {
    "TexDSP": lambda model, fade, network: TexDSPRenderer(
        TexDSPNetwork(model) if network is None else network, model.synth.carriers, model.band_target, fade,
        model.encoder.gru.hidden_size, model.bed_eq),
    "HYBRID": lambda model, fade, network: HybridRenderer(model, fade, network),
    "PVAE": lambda model, fade, network: PVAERenderer(model, network),
}
"""The frame renderer of each :attr:`~ddsp_textures.models.TextureModel.architecture` (``model``, crossfade in
samples, its traced network or ``None``): a new architecture adds its entry here and in
:data:`ddsp_textures.inference.resynthesis.RESYNTHESIZERS`."""


def renderer_for(model: StreamModel, network: nn.Module | None = None, fade: int | None = None) -> nn.Module:
    """The frame renderer of a model's architecture (``network``: its traced :class:`TexDSPNetwork` or
    :class:`EventNetwork`; ``fade``: the crossfade of whole TexEnv frames in samples)."""
    factory = RENDERERS.get(getattr(model, "architecture", None))
    if factory is None:
        raise ValueError(f"streaming needs a TexDSP, P-VAE or hybrid model, got {type(model).__name__}")
    if fade is None:
        fade = max(1, min(model.frame_size // 2, round(FADE_SECONDS * float(model.fs))))
    return factory(model, fade, network)


def traced_renderer(model: StreamModel, fade: int | None = None) -> nn.Module:
    """:func:`renderer_for` with its networks traced for one frame (:class:`TexDSPNetwork`,
    :class:`EventNetwork`: no random draw inside, no data-dependent branch): what the export saves, and what
    the library's stream plays (the same numbers as the eager networks, in about half their time on a CPU:
    benchmarks/README.md, *Streaming*).  The model's mode and device are left as they are."""
    renderer = renderer_for(model, fade=fade)
    dims = feature_dims(model.feature_names, model.n_bands)
    example = (torch.zeros(1, model.steps_per_frame, sum(dims)), torch.zeros(1, 1, model.encoder.gru.hidden_size))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        renderer.net = torch.jit.trace(renderer.net, example, check_trace=False)
    return renderer
