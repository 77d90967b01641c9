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
  (:mod:`ddsp_textures.synths.events`).
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
                 dictionary_size: int = 32) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"unknown grain decoder {decoder!r}; use one of {DECODERS}")
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
        self.decoder_kind = decoder
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

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.decoder(z)
        if self.decoder_kind == "dictionary":
            mixture = torch.softmax(self.to_choice(h), -1) @ self.dictionary                  # (..., m)
            gains = torch.pow(10.0, GAIN_RANGE_DB / 20 * torch.tanh(self.to_gains(h)))       # (..., N + 2)
            return self.bank.apply_band_gains(mixture, gains) * self.window
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


def pvae_synthesis(vae: GrainVAE, rate: torch.Tensor, alpha: torch.Tensor, latents: torch.Tensor, n_samples: int,
                   relaxed: bool = True, temperature: float = 0.3, generator: torch.Generator | None = None,
                   circular: bool = True, straight_through: bool = False):
    """P-VAE synthesis of frames.

    Args:
        vae: grain decoder; rate: events/s ``(...)`` (split evenly over the ``K`` grain types);
        alpha: amplitude exponent ``(...)``; latents: ``(..., K, d)``; n_samples: frame length.
        relaxed: binary-Concrete events (training) or hard Bernoulli events (inference).
        straight_through: relaxed events forward their hard value (see :func:`relaxed_events`).

    Shape:
        ``(...)``, ``(...)``, ``(..., K, d)`` → ``(..., n_samples)`` (plus the tail if not ``circular``).
    """
    k = latents.shape[-2]
    grains = vae.decode(latents)                                                 # (..., K, m)
    per_type = (rate / k).unsqueeze(-1).expand(*rate.shape, k)
    a = alpha.unsqueeze(-1).expand(*alpha.shape, k)
    if relaxed:
        events = relaxed_events(per_type, a, n_samples, vae.fs, temperature, generator, straight_through)
    else:
        events = hard_events(per_type, a, n_samples, vae.fs, generator)
    return place_grains(events, grains, circular=circular)
