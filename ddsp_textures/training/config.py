"""Training configuration: a flat JSON object, validated into a :class:`TrainConfig`.

Every problem is reported as one :class:`ConfigError` line naming the key (the CLI prints it and exits 2).
Keys follow the original research code's configs (Gutiérrez & Wyse's DDSP textures repository) where they make
sense; comma strings are accepted wherever a list is.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddsp_textures.stats.features import FEATURES
from ddsp_textures.stats.texstat import DEFAULT_ALPHA, DEFAULT_BETA
from ddsp_textures.synths.pvae import DECODERS, DRAWS


class ConfigError(ValueError):
    """A configuration that cannot be trained."""


RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")


def check_run_name(name: str) -> str:
    """A run name is one path component of letters, digits and ``._+-`` (not starting with a dot): a run can
    never be written outside ``models_directory``."""
    if not isinstance(name, str) or not RUN_NAME.match(name):
        raise ConfigError(f"config key 'run_name' must be a plain name (letters, digits, '._+-', at most 100 "
                          f"characters, no path separators or '..'), got {name!r}")
    return name


ALIASES = {
    "architecture": {"DDSP_TexEnv": "TexDSP", "DDSP_SubEnv": "TexDSP", "TexDSP": "TexDSP", "PVAE": "PVAE",
                     "DDSP_PVAE": "PVAE", "HYBRID": "HYBRID", "Hybrid": "HYBRID", "TexEnv+PVAE": "HYBRID"},
    "loss_function": {"statistics": "texstat", "texstat": "texstat", "multiscale": "multiscale",
                      "texstat+multiscale": "texstat+multiscale"},
}


@dataclass
class TrainConfig:
    """All training settings (defaults give a small CPU-friendly model)."""

    audio_path: str
    frame_size: int = 32768
    hop_size: int = 16384
    sampling_rate: int = 44100
    sequence_length: int = 4
    features_list: list[str] = field(default_factory=lambda: ["energy_bands", "centroid"])
    regularizers_list: list[str] = field(default_factory=list)
    regularizer_weight: float = 0.2
    hidden_size_enc: int = 128
    hidden_size_dec: int = 128
    deepness_enc: int = 2
    deepness_dec: int = 2
    param_per_env: int = 256
    carrier_spectrum: str = "corpus"
    shift_carriers: bool = True
    positive_dc: bool = False
    N_filter_bank: int = 16
    M_filter_bank: int = 6
    filter_low_lim: float = 20.0
    filter_high_lim: float | None = None
    architecture: str = "TexDSP"
    loss_function: str = "texstat"
    alpha: list[float] = field(default_factory=lambda: list(DEFAULT_ALPHA))
    beta: list[float] = field(default_factory=lambda: list(DEFAULT_BETA))
    batch_size: int = 8
    epochs: int = 10
    learning_rate: float = 1e-3
    validation_fraction: float = 0.2
    early_stopping_patience: int = 0
    data_augmentation: bool = False
    lazy_loading: bool = False
    seed: int = 0
    atoms_number: int = 4
    vae_latent_dim: int = 2
    vae_grain_size: int = 2048
    vae_param_per_env: int = 32
    vae_hidden: int = 128
    vae_epochs: int = 30
    vae_beta: float = 0.01
    vae_decoder: str = "dictionary"
    vae_dictionary_size: int = 32
    vae_grain_draw: str = "atom"
    max_rate: float = 200.0
    event_temperature: float = 0.3
    rate_supervision: float = 1.0
    straight_through_events: bool = True
    event_warmup_epochs: int = 0
    event_gain_penalty: float = 3.0
    pvae_background: bool = True
    models_directory: str = "runs"
    run_name: str | None = None
    device: str = "auto"
    mixed_precision: str = "auto"

    @property
    def has_events(self) -> bool:
        """Whether the model has a P-VAE event layer (``PVAE`` and ``HYBRID``)."""
        return self.architecture in ("PVAE", "HYBRID")

    @property
    def high_limit(self) -> float:
        return self.sampling_rate / 2 if self.filter_high_lim is None else self.filter_high_lim

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


_LIST_KEYS = {"features_list": str, "regularizers_list": str, "alpha": float, "beta": float}


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    if key in _LIST_KEYS:
        kind = _LIST_KEYS[key]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}' must be a list or a comma-separated string, got {value!r}")
        if kind is float and any(isinstance(v, bool) or not isinstance(v, int | float | str) for v in value):
            raise ConfigError(f"config key '{key}' must hold numbers, got {value!r}")
        try:
            out = [kind(v) for v in value]
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}' must hold {kind.__name__} values, got {value!r}") from None
        if kind is float and not all(math.isfinite(v) for v in out):
            raise ConfigError(f"config key '{key}' must hold finite numbers, got {value!r}")
        return out
    text = str(annotation)
    if value is None and "None" in text:
        return None
    if "bool" in text:
        if isinstance(value, bool):
            return value
        if value in (0, 1, "0", "1"):
            return bool(int(value))
        raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
    if text.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
        return value
    if text.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
        try:
            finite = math.isfinite(value)
        except OverflowError:
            finite = False
        if not finite:
            raise ConfigError(f"config key '{key}' must be a finite number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
    return value


SAVED_BEFORE: dict[str, Any] = {"vae_decoder": "noise", "event_gain_penalty": 0.0, "pvae_background": False,
                                 "vae_grain_draw": "mixture"}
"""Keys whose default changed after runs were saved without them, and the value such a run trained with."""


def saved_config_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A config saved by a run, with what each key it lacks meant when it was saved: :data:`SAVED_BEFORE`
    for the keys whose default changed since, the current default for the others.

    >>> saved_config_defaults({"architecture": "HYBRID"})["event_gain_penalty"]
    0.0
    """
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    defaults.update({f.name: f.default_factory() for f in dataclasses.fields(TrainConfig)
                     if f.default_factory is not dataclasses.MISSING})
    return {**json.loads(json.dumps(defaults)), **SAVED_BEFORE, **data}


def parse_config(data: dict[str, Any], base_dir: Path | None = None) -> TrainConfig:
    """Validate a config dictionary. Relative ``audio_path``/``models_directory`` are taken from ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    legacy = {"stems"}
    unknown = sorted(set(data) - set(fields) - legacy)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(unknown)} (valid keys: {', '.join(fields)})")
    if "audio_path" not in data:
        raise ConfigError("config key 'audio_path' is required (a folder of WAV/FLAC files or 'procedural:NAME')")
    values = {k: _coerce(k, v, fields[k].type) for k, v in data.items() if k in fields}
    for key, table in ALIASES.items():
        if key in values:
            if values[key] not in table:
                raise ConfigError(f"config key '{key}' must be one of {', '.join(table)}, got {values[key]!r}")
            values[key] = table[values[key]]
    cfg = TrainConfig(**values)
    if not cfg.audio_path.strip():
        raise ConfigError("config key 'audio_path' is empty (a folder of WAV/FLAC files, a file or 'procedural:NAME')")
    if base_dir is not None:
        if not cfg.audio_path.startswith("procedural:") and not Path(cfg.audio_path).is_absolute():
            cfg.audio_path = str((base_dir / cfg.audio_path).resolve())
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Checks that need the config as a whole; raises :class:`ConfigError` with one line.

    Rules of one argument belong to the constructor that takes it (e.g. an even ``param_per_env``:
    :class:`~ddsp_textures.synths.TexEnvSynth`; ``alpha``/``beta`` lengths and at least 2 bands:
    :class:`~ddsp_textures.stats.texstat.TexStat`; feature names: the feature encoder), and
    :mod:`ddsp_textures.training.builders` turns their ``ValueError`` into a :class:`ConfigError` naming the key —
    before
    anything is written.  What stays here: types and sizes the memory estimate needs (:func:`check_resources`),
    relations between keys, and the keys no constructor sees (training-loop settings, run names, devices).
    """
    positive = ["frame_size", "hop_size", "sampling_rate", "sequence_length", "hidden_size_enc", "hidden_size_dec",
                "deepness_enc", "deepness_dec", "param_per_env", "N_filter_bank", "M_filter_bank",
                "batch_size", "epochs"]
    for key in positive:
        if getattr(cfg, key) < 1:
            raise ConfigError(f"config key '{key}' must be >= 1, got {getattr(cfg, key)}")
    if cfg.frame_size % 4 or cfg.frame_size < 4096:
        raise ConfigError(f"config key 'frame_size' must be a multiple of 4 and >= 4096, got {cfg.frame_size}")
    if cfg.param_per_env // 2 > cfg.frame_size // 8:
        raise ConfigError(f"config key 'param_per_env' ({cfg.param_per_env}) is too large for frame_size "
                          f"{cfg.frame_size} (at most {cfg.frame_size // 4})")
    if not 0 <= cfg.filter_low_lim < cfg.high_limit <= cfg.sampling_rate / 2:
        raise ConfigError(f"filter limits must satisfy 0 <= filter_low_lim < filter_high_lim <= sampling_rate/2, "
                          f"got {cfg.filter_low_lim} and {cfg.high_limit}")
    for name in cfg.regularizers_list:                     # used by the trainer only
        if name not in FEATURES:
            raise ConfigError(f"config key 'regularizers_list': unknown feature {name!r}; "
                              f"choose from {', '.join(FEATURES)}")
    if not 0 < cfg.validation_fraction < 1:
        raise ConfigError(f"config key 'validation_fraction' must be in (0, 1), got {cfg.validation_fraction}")
    if cfg.learning_rate <= 0:
        raise ConfigError(f"config key 'learning_rate' must be positive, got {cfg.learning_rate}")
    if not 0 <= cfg.event_warmup_epochs < cfg.epochs:
        raise ConfigError(f"config key 'event_warmup_epochs' must be in [0, epochs) = [0, {cfg.epochs}), "
                          f"got {cfg.event_warmup_epochs}")
    if cfg.event_warmup_epochs and cfg.architecture != "HYBRID":
        raise ConfigError("config key 'event_warmup_epochs' applies to the HYBRID architecture only (it trains "
                          "the bed alone first)")
    if cfg.has_events:
        if cfg.vae_decoder not in DECODERS:
            raise ConfigError(f"config key 'vae_decoder' must be one of {', '.join(DECODERS)}, got {cfg.vae_decoder!r}")
        if cfg.vae_grain_draw not in DRAWS:
            raise ConfigError(f"config key 'vae_grain_draw' must be one of {', '.join(DRAWS)}, "
                              f"got {cfg.vae_grain_draw!r}")
        if (cfg.vae_grain_draw == "atom" and cfg.vae_decoder == "dictionary" and cfg.architecture == "HYBRID"
                and not cfg.straight_through_events):
            raise ConfigError("config key 'vae_grain_draw': 'atom' needs hard events in training "
                              "('straight_through_events': true), or use 'mixture'")
        # sizes of the memory estimate and of the dictionary, and the grain training's epoch count
        for key in ("vae_hidden", "vae_param_per_env", "vae_epochs", "vae_dictionary_size"):
            if getattr(cfg, key) < 1:
                raise ConfigError(f"config key '{key}' must be >= 1, got {getattr(cfg, key)}")
        if cfg.vae_grain_size > cfg.frame_size:
            raise ConfigError(f"config key 'vae_grain_size' must be <= frame_size ({cfg.frame_size}), "
                              f"got {cfg.vae_grain_size}")
        if cfg.event_temperature <= 0 or cfg.vae_beta < 0 or cfg.rate_supervision < 0 or cfg.event_gain_penalty < 0:
            raise ConfigError("config key 'event_temperature' must be > 0, 'vae_beta', 'rate_supervision' and "
                              "'event_gain_penalty' >= 0")
    if cfg.lazy_loading and cfg.data_augmentation:
        raise ConfigError("config keys 'lazy_loading' and 'data_augmentation' cannot both be true (augmentation "
                          "resamples whole signals in memory)")
    if cfg.carrier_spectrum not in ("corpus", "flat"):
        raise ConfigError(f"config key 'carrier_spectrum' must be 'corpus' or 'flat', got {cfg.carrier_spectrum!r}")
    if cfg.mixed_precision not in ("auto", "off", "bf16"):
        raise ConfigError(f"config key 'mixed_precision' must be 'auto', 'off' or 'bf16', got {cfg.mixed_precision!r}")
    if cfg.device not in ("auto", "cpu", "cuda") and not cfg.device.startswith("cuda:"):
        raise ConfigError(f"config key 'device' must be 'auto', 'cpu' or 'cuda', got {cfg.device!r}")
    if cfg.seed < 0 or cfg.seed >= 2**63:
        raise ConfigError(f"config key 'seed' must be an integer in [0, 2**63), got {cfg.seed}")
    if cfg.run_name is not None:
        check_run_name(cfg.run_name)
    if cfg.audio_path.startswith("procedural:"):
        from ddsp_textures.training.data import parse_procedural

        try:
            parse_procedural(cfg.audio_path, cfg.sampling_rate)
        except ValueError as err:
            raise ConfigError(f"config key 'audio_path': {err}") from None
    check_resources(cfg)
    if cfg.hop_size > cfg.frame_size:
        warnings.warn(f"hop_size {cfg.hop_size} > frame_size {cfg.frame_size}: parts of the audio are never used",
                      stacklevel=2)


LIMITS = {  # generous upper bounds: beyond them a config is a typo, not a model
    "sampling_rate": 384_000, "frame_size": 2**20, "hop_size": 2**22, "sequence_length": 4096,
    "hidden_size_enc": 16_384, "hidden_size_dec": 16_384, "deepness_enc": 64, "deepness_dec": 64,
    "param_per_env": 2**16, "N_filter_bank": 256, "M_filter_bank": 64, "batch_size": 4096, "epochs": 10**6,
    "atoms_number": 1024, "vae_latent_dim": 256, "vae_grain_size": 2**18, "vae_param_per_env": 2**14,
    "vae_hidden": 16_384, "vae_epochs": 10**6,
}


def physical_memory() -> int:
    """Bytes of RAM on this machine (16 GiB if the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def step_memory(cfg: TrainConfig) -> int:
    """A rough upper estimate (bytes) of the memory one training step needs: TexStat and the synth keep
    ``O(frames · N · L)`` activations for the backward pass, the filterbanks are ``(N + 2) × (L/2 + 1)`` float64
    matrices, and the networks hold weights, gradients and two Adam moments."""
    frames = cfg.batch_size * cfg.sequence_length
    length, n = cfg.frame_size, cfg.N_filter_bank
    activations = frames * n * length * 48
    banks = 3 * (n + 2) * (length // 2 + 1) * 8
    feature_width = n + 8
    hidden = max(cfg.hidden_size_enc, cfg.hidden_size_dec)
    weights = (len(cfg.features_list) * (feature_width * cfg.hidden_size_enc + cfg.deepness_enc
                                         * cfg.hidden_size_enc**2)
               + 3 * 3 * hidden**2 + cfg.deepness_dec * cfg.hidden_size_dec**2
               + cfg.hidden_size_dec * n * cfg.param_per_env)
    if cfg.has_events:
        weights += cfg.vae_hidden**2 * 4 + cfg.vae_hidden * (cfg.vae_grain_size + n * cfg.vae_param_per_env)
    return int(activations + banks + weights * 4 * 4)


def check_resources(cfg: TrainConfig) -> None:
    """Refuse configs that cannot fit: absurd sizes (:data:`LIMITS`) and steps that need more than this
    machine's memory — with the figure, before anything is allocated or written."""
    for key, limit in LIMITS.items():
        value = getattr(cfg, key)
        if value > limit:
            raise ConfigError(f"config key '{key}' = {value} is beyond the supported maximum {limit}")
    if cfg.sampling_rate < 1000:
        raise ConfigError(f"config key 'sampling_rate' must be >= 1000 Hz, got {cfg.sampling_rate}")
    need, have = step_memory(cfg), physical_memory()
    if need > 0.8 * have:
        raise ConfigError(f"this config needs about {need / 2**30:.1f} GiB for one training step (batch_size × "
                          f"sequence_length × N_filter_bank × frame_size = {cfg.batch_size} × {cfg.sequence_length}"
                          f" × {cfg.N_filter_bank} × {cfg.frame_size}, plus the networks), but this machine has "
                          f"{have / 2**30:.1f} GiB; lower batch_size, sequence_length, frame_size or the hidden sizes")


MAX_INT_DIGITS = 30        # longer JSON integers are read as inf, which validation refuses naming the key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of the config reader: a key given twice is an error (JSON readers disagree on which
    one wins, so the user's intent is unknown)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ConfigError(f"config key {key[:100]!r} is given twice; keep one")
        out[key] = value
    return out


def _bounded_int(text: str) -> int | float:
    """``parse_int`` of the config reader: an integer of more than :data:`MAX_INT_DIGITS` digits becomes inf
    (Python refuses to convert over 4300 digits with an error that names no key)."""
    if len(text.lstrip("-")) <= MAX_INT_DIGITS:
        return int(text)
    return -math.inf if text.startswith("-") else math.inf


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a JSON config file (paths inside are relative to the current directory)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys, parse_int=_bounded_int)
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be a config (a config is one flat JSON object)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text (a JSON config must be UTF-8)") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    return parse_config(data, Path.cwd())
