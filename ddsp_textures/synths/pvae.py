"""P-VAE synth: a Poisson process of events whose grains are decoded by a variational autoencoder
(book chapter: *P-VAE synth*).

Saint-Arnaud's two-level view of textures — *atoms* and their *distribution* — becomes a synth:

* :class:`GrainVAE` learns a latent space of short grains (atoms).  Unlike the reference's deterministic
  "VAE" it is a real VAE: the encoder gives a Gaussian posterior, samples are reparameterised, and the loss
  has a β-weighted KL term, so decoding any latent of the prior ``N(0, I)`` gives a plausible grain.  The
  encoder sees the grain's log band energies.  Two decoders (``decoder=``):

  - ``"noise"``: TexEnv envelope coefficients rendered with the VAE's own noise carriers (a buffer saved with
    the weights) — a noise burst with the grain's band energies and envelope, but none of its phase coherence;
  - ``"dictionary"``: a softmax mixture of ``J`` real grains of the training audio (k-means medoids by band
    spectrum, :meth:`GrainVAE.set_dictionary`) reshaped by per-band gains within ±20 dB — a click stays a
    click.  Measured in ``benchmarks/event_models.py``: the noise decoder is why P-VAE and hybrid models could
    not beat TexEnv on event textures (a noise-burst transient layer made fire and rain drops *worse* too, see
    :mod:`~ddsp_textures.synths.transients`).

  Both are faded in and out by :func:`grain_window`.
* :func:`pvae_synthesis` draws relaxed Poisson events (rate ``λ``, amplitude exponent ``α``) for ``K`` grain
  types, decodes ``K`` latents with the VAE and places the grains with an FFT convolution
  (:mod:`ddsp_textures.synths.events`).  How an event uses its type's decoded latent (``draw=``):
  ``"mixture"`` sounds the decoded grain — for the dictionary decoder a blend of real grains, all starting
  together, so one event sounds several drops at once; ``"atom"`` (dictionary only) reads the blend's weights as
  probabilities, and every event sounds *one* real grain drawn from them, with its type's band gains.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.nn import mlp
from ddsp_textures.stats.features import energy_bands
from ddsp_textures.synths.carriers import make_carriers
from ddsp_textures.synths.events import hard_events, place_grains, relaxed_events
from ddsp_textures.synths.texenv import coefficients_from_logits, texenv_synthesis
from ddsp_textures.synths.transients import _kmeans

DECODERS = ("noise", "dictionary")
DRAWS = ("atom", "mixture")
GAIN_RANGE_DB = 20.0            # the dictionary decoder's band gains stay within ± this


def grain_window(length: int, fade: float = 0.05) -> torch.Tensor:
    """Window of a grain: a short raised-cosine fade-in (``fade/4`` of the grain) and a fade-out over ``fade``."""
    w = torch.ones(length)
    n_in, n_out = max(1, int(length * fade / 4)), max(1, int(length * fade))
    w[:n_in] = 0.5 * (1 - torch.cos(math.pi * torch.arange(n_in) / n_in))
    w[length - n_out:] = 0.5 * (1 + torch.cos(math.pi * torch.arange(1, n_out + 1) / n_out))
    return w


class GrainVAE(nn.Module):
    """Variational autoencoder of grains ``(m,)`` through their log band energies.

    ``draw``: how events use a decoded latent (:func:`pvae_synthesis`): ``"atom"`` (one dictionary grain per
    event, drawn from the mixture's weights; dictionary decoder only, its default) or ``"mixture"`` (the decoded
    grain; the noise decoder's default).

    ``decoder``: ``"dictionary"`` (mixture of ``dictionary_size`` real grains with band gains; the dictionary
    is filled by :meth:`set_dictionary`, which :func:`~ddsp_textures.training.grain_training.train_grain_vae` calls on
    its grains when the dictionary is still empty) or ``"noise"`` (TexEnv envelopes on noise carriers,
    ``param_per_env`` coefficients per band; the only decoder of runs saved before the choice existed).

    Shape:
        ``forward(grains (B, m))`` → ``(reconstruction (B, m), mu (B, d), logvar (B, d))``;
        ``decode(z (..., d))`` → grains ``(..., m)``.

    >>> vae = GrainVAE(256, 8000.0, n_bands=4, decoder="dictionary", dictionary_size=3)
    >>> vae.set_dictionary(torch.randn(10, 256), torch.Generator().manual_seed(0))
    >>> tuple(vae.decode(torch.zeros(5, 2)).shape), tuple(vae.dictionary.shape)
    ((5, 256), (3, 256))
    """

    carriers: torch.Tensor
    window: torch.Tensor
    dictionary: torch.Tensor

    def __init__(self, grain_size: int, fs: float, n_bands: int = 16, param_per_env: int = 32, latent_dim: int = 2,
                 hidden: int = 128, depth: int = 2, seed: int = 0, decoder: str = "dictionary",
                 dictionary_size: int = 32, draw: str | None = None) -> None:
        super().__init__()
        draw = draw or ("atom" if decoder == "dictionary" else "mixture")
        if decoder not in DECODERS:
            raise ValueError(f"unknown grain decoder {decoder!r}; use one of {DECODERS}")
        if draw not in DRAWS:
            raise ValueError(f"unknown grain draw {draw!r}; use one of {DRAWS}")
        if draw == "atom" and decoder != "dictionary":
            raise ValueError("grain draw 'atom' needs the dictionary decoder (decoder='dictionary')")
        if dictionary_size < 1:
            raise ValueError(f"dictionary_size must be >= 1, got {dictionary_size}")
        if grain_size % 2 or grain_size < 256:
            raise ValueError(f"grain_size must be even and >= 256, got {grain_size}")
        if param_per_env < 2 or param_per_env % 2 or param_per_env // 2 > grain_size // 2 + 1:
            raise ValueError(f"param_per_env must be an even integer in [2, {grain_size + 2}] for grains of "
                             f"{grain_size} samples, got {param_per_env}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.grain_size, self.fs, self.n_bands, self.latent_dim = grain_size, fs, n_bands, latent_dim
        self.decoder_kind, self.draw = decoder, draw
        self.n_coeffs = param_per_env // 2
        self.bank = erb_bank(grain_size, fs, n_bands)
        self.register_buffer("window", grain_window(grain_size))
        self.encoder = mlp(n_bands, hidden, depth)
        self.to_mu, self.to_logvar = nn.Linear(hidden, latent_dim), nn.Linear(hidden, latent_dim)
        self.decoder = mlp(latent_dim, hidden, depth)
        if decoder == "noise":
            self.register_buffer("carriers", make_carriers(self.bank, torch.Generator().manual_seed(seed)))
            self.to_mag = nn.Linear(hidden, n_bands * self.n_coeffs)
            self.to_phase = nn.Linear(hidden, n_bands * self.n_coeffs)
            with torch.no_grad():
                self.to_mag.bias.fill_(-4.0)
        else:
            self.register_buffer("dictionary", torch.zeros(dictionary_size, grain_size))
            self.to_choice = nn.Linear(hidden, dictionary_size)
            self.to_gains = nn.Linear(hidden, n_bands + 2)
            with torch.no_grad():
                self.to_gains.weight.mul_(0.1)
                self.to_gains.bias.zero_()

    @property
    def device(self) -> torch.device:
        return self.window.device

    @torch.no_grad()
    def set_dictionary(self, grains: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Fill the ``"dictionary"`` decoder's atoms with real grains ``(G, m)``: the medoids of a k-means on
        their log band energies (fewer distinct grains than atoms: some are repeated), each scaled to unit peak."""
        if self.decoder_kind != "dictionary":
            raise ValueError("set_dictionary needs a GrainVAE with decoder='dictionary'")
        if grains.ndim != 2 or grains.shape[-1] != self.grain_size or len(grains) < 1:
            raise ValueError(f"grains must be (G, {self.grain_size}) with G >= 1, got {tuple(grains.shape)}")
        grains = grains.to(self.device, torch.float32)
        feats = energy_bands(grains, self.bank)                                       # log10 band RMS
        size = self.dictionary.shape[0]
        _, centres = _kmeans(feats.cpu(), min(size, len(grains)), generator)
        medoids = torch.cdist(centres, feats.cpu()).argmin(-1)
        chosen = grains[medoids.to(self.device)]
        chosen = chosen[torch.arange(size, device=self.device) % len(chosen)]
        self.dictionary.copy_(chosen / (chosen.abs().amax(-1, keepdim=True) + 1e-8))

    def encode(self, grains: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(energy_bands(grains, self.bank))
        return self.to_mu(h), self.to_logvar(h).clamp(-10, 6)

    def mixture(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The dictionary decoder's weights ``(..., J)`` over its grains and its band gains in log10
        ``(..., N + 2)`` for latents ``z (..., d)``."""
        h = self.decoder(z)
        return torch.softmax(self.to_choice(h), -1), GAIN_RANGE_DB / 20 * torch.tanh(self.to_gains(h))

    def shape_grains(self, grains: torch.Tensor, log_gains: torch.Tensor) -> torch.Tensor:
        """Dictionary grains (or blends of them) ``(..., m)`` with band gains in log10 ``(..., N + 2)`` (one
        zero-phase filter), under the grain window: the dictionary decoder's last step."""
        return self.bank.apply_band_gains(grains, torch.pow(10.0, log_gains)) * self.window

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.decoder_kind == "dictionary":
            weights, log_gains = self.mixture(z)
            return self.shape_grains(weights @ self.dictionary, log_gains)
        h = self.decoder(z)
        coeffs = coefficients_from_logits(self.to_mag(h), self.to_phase(h), self.n_bands, self.grain_size)
        return texenv_synthesis(coeffs, self.carriers) * self.window

    def forward(self, grains: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(grains)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar

    @staticmethod
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL divergence to ``N(0, I)`` per item, summed over latent dimensions."""
        return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)

    @torch.no_grad()
    def latent_grid(self, steps: int = 5, extent: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoded grains on a ``steps × steps`` grid of the first two latent dimensions (others 0), spanning
        ``±extent`` standard deviations of the prior: returns ``(z (steps, steps, d), grains (steps, steps, m))``."""
        axis = torch.linspace(-extent, extent, steps)
        z = torch.zeros(steps, steps, self.latent_dim)
        z[..., 0] = axis[:, None]
        if self.latent_dim > 1:
            z[..., 1] = axis[None, :]
        return z, self.decode(z.to(self.device)).cpu()


def atom_grains(vae: GrainVAE, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For the ``"atom"`` draw: each grain type's weights over the dictionary ``(..., K, J)`` and the dictionary's
    grains reshaped by that type's band gains ``(..., K, J, m)`` — the type's decoded grain is
    ``Σ_j weights_j · grains_j``."""
    weights, log_gains = vae.mixture(latents)
    return weights, vae.shape_grains(vae.dictionary, log_gains.unsqueeze(-2))       # gains (..., K, 1, N + 2)


def type_energy(vae: GrainVAE, latents: torch.Tensor) -> torch.Tensor:
    """Mean energy of one event of each grain type ``(..., K)``: the decoded grain's, or for the ``"atom"``
    draw ``Σ_j weights_j ‖grain_j‖²`` (more than the blend's: real grains do not cancel each other)."""
    if vae.draw == "atom":
        weights, grains = atom_grains(vae, latents)
        return (weights * grains.pow(2).sum(-1)).sum(-1)
    return vae.decode(latents).pow(2).sum(-1)


def choose_atoms(weights: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row of ``weights (E, J)`` (rows sum to 1), drawn with those probabilities from one uniform
    draw per row (inverse CDF).

    >>> w = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    >>> choose_atoms(w, torch.Generator().manual_seed(0)).tolist()
    [1, 0]
    """
    device = weights.device if generator is None else generator.device
    r = torch.rand(weights.shape[0], generator=generator, device=device, dtype=weights.dtype).to(weights.device)
    return atoms_at(weights, r)


def atoms_at(weights: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """The atoms of :func:`choose_atoms` for given uniform draws ``r (E,)``: the first index whose cumulative
    weight reaches ``r`` (TorchScript)."""
    index = torch.searchsorted(weights.cumsum(-1).contiguous(), r.unsqueeze(-1)).squeeze(-1)
    return index.clamp_max(weights.shape[-1] - 1)


def drawn_grains(vae: GrainVAE, latents: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One dictionary grain per event, drawn from the weights of its latent ``(E, d)`` and shaped by its band
    gains (:func:`choose_atoms`): ``(E, m)``."""
    weights, log_gains = vae.mixture(latents)
    chosen = vae.dictionary[choose_atoms(weights, generator)]
    if chosen.shape[0] == 0:                                   # no event: nothing to shape
        return chosen
    return vae.shape_grains(chosen, log_gains)


def _atom_corrections(events: torch.Tensor, vae: GrainVAE, latents: torch.Tensor, mixed: torch.Tensor,
                      size: int, circular: bool, generator: torch.Generator | None) -> torch.Tensor:
    """What turns every event's blended grain into one dictionary grain drawn from its weights: ``(..., size)``
    holding ``Σ_events a · (grain_j − blend)`` at each event's time (wrapped if ``circular``)."""
    k, n = events.shape[-2:]
    flat = events.reshape(-1, k, n)
    item, kind, at = torch.nonzero(flat, as_tuple=True)
    grains = drawn_grains(vae, latents.reshape(-1, k, latents.shape[-1])[item, kind], generator)
    m = min(grains.shape[-1], size)
    blend = mixed.reshape(-1, k, mixed.shape[-1])[item, kind]
    delta = flat[item, kind, at].unsqueeze(-1) * (grains - blend)
    index = at.unsqueeze(-1) + torch.arange(m, device=at.device)
    if circular:
        index = index % size
    out = torch.zeros(flat.shape[0] * size, dtype=mixed.dtype, device=mixed.device)
    out.index_add_(0, (item.unsqueeze(-1) * size + index).reshape(-1), delta[..., :m].reshape(-1))
    return out.reshape(*events.shape[:-2], size)


def pvae_synthesis(vae: GrainVAE, rate: torch.Tensor, alpha: torch.Tensor, latents: torch.Tensor, n_samples: int,
                   relaxed: bool = True, temperature: float = 0.3, generator: torch.Generator | None = None,
                   circular: bool = True, straight_through: bool = False):
    """P-VAE synthesis of frames.

    Args:
        vae: grain decoder; rate: events/s ``(...)`` (split evenly over the ``K`` grain types);
        alpha: amplitude exponent ``(...)``; latents: ``(..., K, d)``; n_samples: frame length.
        relaxed: binary-Concrete events (training) or hard Bernoulli events (inference).
        straight_through: relaxed events forward their hard value (see :func:`relaxed_events`).

    With ``vae.draw == "atom"`` every event sounds *one* dictionary grain, drawn from its type's weights
    (:func:`choose_atoms`), and the gradient is the blend's (the draw's expected grain): a straight-through
    estimator, as for the events themselves.  It needs hard events forward (``straight_through`` or not
    ``relaxed``).

    Shape:
        ``(...)``, ``(...)``, ``(..., K, d)`` → ``(..., n_samples)`` (plus the tail if not ``circular``).
    """
    atom = vae.draw == "atom"
    if atom and relaxed and not straight_through:
        raise ValueError("the 'atom' grain draw needs hard events forward: straight_through=True or relaxed=False")
    k = latents.shape[-2]
    grains = vae.decode(latents)                                                 # (..., K, m)
    per_type = (rate / k).unsqueeze(-1).expand(*rate.shape, k)
    a = alpha.unsqueeze(-1).expand(*alpha.shape, k)
    if relaxed:
        events = relaxed_events(per_type, a, n_samples, vae.fs, temperature, generator, straight_through)
    else:
        events = hard_events(per_type, a, n_samples, vae.fs, generator)
    out = place_grains(events, grains, circular=circular)
    if not atom:
        return out
    size = n_samples if circular else n_samples + grains.shape[-1] - 1
    with torch.no_grad():
        fix = _atom_corrections(events.detach(), vae, latents.detach(), grains.detach(), size, circular, generator)
    if circular:
        return out + fix
    return out[0] + fix[..., :n_samples], out[1] + fix[..., n_samples:]


def background_noise(magnitude: torch.Tensor, shape: tuple[int, ...], length: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian noise frames ``shape + (length,)`` filtered (circularly) by ``magnitude`` ``(length // 2 + 1,)``
    and scaled to unit RMS: the P-VAE's background (:func:`~ddsp_textures.dsp.spectral.background_spectrum`).

    >>> y = background_noise(torch.ones(129), (3,), 256, torch.Generator().manual_seed(0))
    >>> tuple(y.shape), [round(float(v), 4) for v in y.pow(2).mean(-1).sqrt()]
    ((3, 256), [1.0, 1.0, 1.0])
    """
    device = magnitude.device if generator is None else generator.device      # draws on the generator's device
    noise = torch.randn(*shape, length, generator=generator, device=device).to(magnitude.device)
    return shaped_noise(noise, magnitude)


def shaped_noise(noise: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """White noise frames ``(..., L)`` filtered by ``magnitude (L // 2 + 1,)`` and scaled to unit RMS: the
    deterministic half of :func:`background_noise` (TorchScript)."""
    length = noise.shape[-1]
    y = torch.fft.irfft(torch.fft.rfft(noise, dim=-1) * magnitude.to(noise.dtype), n=length, dim=-1)
    return y / y.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-12)


def expected_event_power(rate: torch.Tensor, alpha: torch.Tensor, energy: torch.Tensor, fs: float) -> torch.Tensor:
    """Mean power per sample of :func:`pvae_synthesis`'s events: ``Σ_k (λ/K)/fs · E[a²] · E_k`` with amplitudes
    ``a = v^α``, ``v ~ U(0, 1)`` (``E[a²] = 1/(1 + 2α)``) and ``E_k`` the mean energy of a grain of type ``k``
    (:func:`type_energy`), for grains placed at independent times.

    Shape:
        ``rate (...)``, ``alpha (...)``, ``energy (..., K)`` → ``(..., 1)``.

    >>> e = torch.tensor([100.0])                               # one grain type, energy 100
    >>> float(expected_event_power(torch.tensor(10.0), torch.tensor(0.5), e, 1000.0))   # 0.01·0.5·100
    0.5
    """
    return (rate / fs * energy.mean(-1) / (1 + 2 * alpha)).unsqueeze(-1)


LONE_EVENT_FLOOR = 0.25     # inference: a frame's events are scaled as if they had at least this share of
                            # their expected power


def mix_background(events: torch.Tensor, noise: torch.Tensor, share: torch.Tensor | float,
                   expected_power: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Events ``(..., L')`` (a frame of ``L = noise.shape[-1]`` samples, possibly followed by a grain tail) at
    ``1 − share`` of the frame's power and the unit-RMS background ``noise (..., L)`` at ``share``.  Returns the
    mixture ``(..., L')`` and the events' gain ``(..., 1)`` (for their tail).

    The events are scaled by the power they drew in the frame, as the P-VAE's frames always were; at inference
    (``expected_power (..., 1)`` given, :func:`expected_event_power`) that power is taken as at least
    :data:`LONE_EVENT_FLOOR` of the expected one, so a frame that drew one faint event does not blow it up to
    the frame's level (the alternatives, measured: ``benchmarks/README.md``, *The P-VAE's background*).  A frame
    without events is all background.

    >>> e = torch.zeros(2, 8); e[0, 3] = 2 * 8 ** 0.5                   # frame 0: one event, RMS 2
    >>> y, g = mix_background(e, torch.ones(2, 8), 0.36)
    >>> [round(float(v), 3) for v in g.reshape(-1)], round(float(y[0, 3]), 3), bool(torch.allclose(y[1], e[1] + 0.6))
    ([0.4, 0.0], 2.863, True)
    >>> round(float(mix_background(e, torch.ones(2, 8), 0.36, torch.full((2, 1), 64.0))[1][0]), 3)   # floored
    0.2
    """
    return mix_with_share(events, noise, torch.as_tensor(share, dtype=events.dtype, device=events.device),
                          expected_power)


def mix_with_share(events: torch.Tensor, noise: torch.Tensor, share: torch.Tensor,
                   expected_power: torch.Tensor | None = None, floor: float = LONE_EVENT_FLOOR
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`mix_background` with the share as a tensor (TorchScript)."""
    length = noise.shape[-1]
    power = events[..., :length].pow(2).mean(-1, keepdim=True)
    if expected_power is not None:
        power = torch.maximum(power, floor * expected_power.to(power.dtype))
    gain = (1 - share).sqrt() * torch.rsqrt(power + 1e-20)            # finite gradient at an empty frame
    mixed = events * gain
    mixed = torch.cat([mixed[..., :length] + share.sqrt() * noise, mixed[..., length:]], dim=-1)
    return mixed, torch.where(power > 0, gain, torch.zeros_like(gain)).detach()
