"""Config → library objects (book chapter: *DDSP training*): the one place where training-config names (the
reference's, e.g. ``N_filter_bank``, ``deepness_enc``) are mapped onto the library's keyword arguments.

A constructor's ``ValueError`` becomes a :class:`~ddsp_textures.training.config.ConfigError` that names the config
key(s)
behind the failing argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ddsp_textures.models import HybridModel, PVAEModel, TexDSP
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths.pvae import GrainVAE
from ddsp_textures.training.config import ConfigError, TrainConfig
from ddsp_textures.training.data import LazyTextureDataset, TextureDataset, cached_sources, load_sources, tape_shift

# library keyword ← config key, per constructor
TEXDSP_ARGS = {"features": "features_list", "frame_size": "frame_size", "fs": "sampling_rate",
               "n_bands": "N_filter_bank", "param_per_env": "param_per_env", "hidden_enc": "hidden_size_enc",
               "hidden_dec": "hidden_size_dec", "depth_enc": "deepness_enc", "depth_dec": "deepness_dec",
               "low": "filter_low_lim", "high": "high_limit", "seed": "seed",
               "shift_carriers": "shift_carriers", "positive_dc": "positive_dc"}
PVAE_ARGS = {"features": "features_list", "frame_size": "frame_size", "fs": "sampling_rate",
             "n_bands": "N_filter_bank", "atoms": "atoms_number", "hidden_enc": "hidden_size_enc",
             "hidden_dec": "hidden_size_dec", "depth_enc": "deepness_enc", "depth_dec": "deepness_dec",
             "low": "filter_low_lim", "high": "high_limit", "max_rate": "max_rate",
             "temperature": "event_temperature", "background": "pvae_background"}
HYBRID_ARGS = {**TEXDSP_ARGS, "atoms": "atoms_number", "max_rate": "max_rate", "temperature": "event_temperature",
               "straight_through": "straight_through_events"}
GRAIN_VAE_ARGS = {"grain_size": "vae_grain_size", "fs": "sampling_rate", "n_bands": "N_filter_bank",
                  "param_per_env": "vae_param_per_env", "latent_dim": "vae_latent_dim", "hidden": "vae_hidden",
                  "seed": "seed", "decoder": "vae_decoder", "dictionary_size": "vae_dictionary_size"}
TEXSTAT_ARGS = {"frame_size": "frame_size", "fs": "sampling_rate", "n_bands": "N_filter_bank",
                "n_mod_bands": "M_filter_bank", "low": "filter_low_lim", "high": "high_limit", "alpha": "alpha",
                "beta": "beta"}


SHOWN_AS = {"high_limit": "filter_high_lim"}    # config properties shown as the key a user writes


def _build(factory: Callable[..., Any], names: dict[str, str], cfg: TrainConfig, **extra: Any) -> Any:
    """``factory(**kwargs)`` from the config; a ``ValueError`` becomes a :class:`ConfigError` naming the config
    key of every argument the message names (as a word), or all of them when it names none."""
    kwargs = {arg: getattr(cfg, key) for arg, key in names.items()}
    try:
        return factory(**kwargs, **extra)
    except ValueError as err:
        named = {names[a] for a in names if re.search(rf"\b{re.escape(a)}\b", str(err))}
        keys = ", ".join(sorted(SHOWN_AS.get(k, k) for k in (named or set(names.values()))))
        raise ConfigError(f"config key(s) {keys}: {err}") from None


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; an unavailable CUDA device is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"config key 'device': {name!r} requested but CUDA is not available")
    return torch.device(name)


def network_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the networks in training: ``auto`` → bf16 on a CUDA device that supports it,
    float32 (``None``) elsewhere; ``bf16`` forces it (CPUs with bf16 units); ``off`` never."""
    if cfg.mixed_precision == "bf16":
        return torch.bfloat16
    if cfg.mixed_precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def build_model(cfg: TrainConfig) -> TexDSP | PVAEModel | HybridModel:
    """The configured model, initialised from ``seed``."""
    torch.manual_seed(cfg.seed)
    if cfg.has_events:
        # the noise decoder has no grains to draw from: its events always use the decoded grain
        draw = cfg.vae_grain_draw if cfg.vae_decoder == "dictionary" else "mixture"
        vae = _build(GrainVAE, GRAIN_VAE_ARGS, cfg, draw=draw)
        if cfg.architecture == "HYBRID":
            return _build(HybridModel, HYBRID_ARGS, cfg, vae=vae)
        return _build(PVAEModel, PVAE_ARGS, cfg, vae=vae)
    return _build(TexDSP, TEXDSP_ARGS, cfg)


def build_texstat(cfg: TrainConfig) -> TexStat:
    """The configured TexStat loss (the same bank limits as the model's features and synth)."""
    return _build(TexStat, TEXSTAT_ARGS, cfg)


def cache_directory(cfg: TrainConfig) -> Path:
    """Where ``lazy_loading`` keeps the decoded corpus (shared by the runs of a models directory)."""
    return Path(cfg.models_directory) / ".audio_cache"


def build_sources(cfg: TrainConfig) -> list:
    """The configured training signals: in memory, or memory-mapped from the cache with ``lazy_loading``."""
    if cfg.lazy_loading:
        return cached_sources(cfg.audio_path, cfg.sampling_rate, cache_directory(cfg), cfg.seed)
    return load_sources(cfg.audio_path, cfg.sampling_rate, cfg.seed)


def build_datasets(cfg: TrainConfig, model: TexDSP | PVAEModel | HybridModel, signals: list | None = None
                   ) -> tuple[TextureDataset | LazyTextureDataset, TextureDataset | LazyTextureDataset]:
    """Seeded train/validation split of the sequences of the configured audio (read on demand with
    ``lazy_loading``)."""
    if signals is None:
        signals = build_sources(cfg)
    if cfg.data_augmentation:
        signals = signals + [tape_shift(s, st) for s in signals for st in (-12, -6, 6, 12)]
    kind = LazyTextureDataset if cfg.lazy_loading else TextureDataset
    data = kind(signals, cfg.frame_size, cfg.hop_size, cfg.sequence_length, cfg.features_list, model.bank)
    n = len(data)
    if n < 2:
        raise ConfigError(f"audio too short: it gives {n} training sequence(s), at least 2 are needed for a "
                          f"train/validation split (use more audio or a smaller frame_size/sequence_length)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))
    n_val = min(n - 1, max(1, round(cfg.validation_fraction * n)))
    return data.subset(order[n_val:]), data.subset(order[:n_val])
