"""Training configuration: a flat JSON object, validated into a :class:`TrainConfig`.

Every problem is reported as one :class:`ConfigError` line naming the key (the CLI prints it and exits 2).
Keys follow the reference (spec §9.2) where they make sense; comma strings are accepted wherever a list is.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .features import FEATURES


class ConfigError(ValueError):
    """A configuration that cannot be trained."""


ALIASES = {
    "architecture": {"DDSP_TexEnv": "TexDSP", "DDSP_SubEnv": "TexDSP", "TexDSP": "TexDSP", "PVAE": "PVAE",
                     "DDSP_PVAE": "PVAE"},
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
    N_filter_bank: int = 16
    M_filter_bank: int = 6
    filter_low_lim: float = 20.0
    filter_high_lim: float | None = None
    architecture: str = "TexDSP"
    loss_function: str = "texstat"
    alpha: list[float] = field(default_factory=lambda: [10.0, 1.0, 0.1, 0.01])
    beta: list[float] = field(default_factory=lambda: [1.0, 20.0, 20.0, 20.0, 20.0])
    batch_size: int = 8
    epochs: int = 10
    learning_rate: float = 1e-3
    validation_fraction: float = 0.2
    early_stopping_patience: int = 0
    data_augmentation: bool = False
    seed: int = 0
    atoms_number: int = 4
    vae_latent_dim: int = 2
    vae_grain_size: int = 2048
    vae_param_per_env: int = 32
    vae_hidden: int = 128
    vae_epochs: int = 30
    vae_beta: float = 0.01
    max_rate: float = 200.0
    event_temperature: float = 0.3
    models_directory: str = "runs"
    run_name: str | None = None
    device: str = "auto"

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
        try:
            return [kind(v) for v in value]
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}' must hold {kind.__name__} values, got {value!r}") from None
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
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
    return value


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
    if base_dir is not None:
        if not cfg.audio_path.startswith("procedural:") and not Path(cfg.audio_path).is_absolute():
            cfg.audio_path = str((base_dir / cfg.audio_path).resolve())
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Cross-key checks; raises :class:`ConfigError` with one line."""
    positive = ["frame_size", "hop_size", "sampling_rate", "sequence_length", "hidden_size_enc", "hidden_size_dec",
                "deepness_enc", "deepness_dec", "param_per_env", "N_filter_bank", "M_filter_bank",
                "batch_size", "epochs"]
    for key in positive:
        if getattr(cfg, key) < 1:
            raise ConfigError(f"config key '{key}' must be >= 1, got {getattr(cfg, key)}")
    if cfg.param_per_env % 2:
        raise ConfigError(f"config key 'param_per_env' must be even (real + imaginary parts), got {cfg.param_per_env}")
    if cfg.frame_size % 4 or cfg.frame_size < 4096:
        raise ConfigError(f"config key 'frame_size' must be a multiple of 4 and >= 4096, got {cfg.frame_size}")
    if cfg.param_per_env // 2 > cfg.frame_size // 8:
        raise ConfigError(f"config key 'param_per_env' ({cfg.param_per_env}) is too large for frame_size "
                          f"{cfg.frame_size} (at most {cfg.frame_size // 4})")
    if cfg.N_filter_bank < 2 or cfg.M_filter_bank < 2:
        raise ConfigError("config keys 'N_filter_bank' and 'M_filter_bank' must be >= 2")
    if not 0 <= cfg.filter_low_lim < cfg.high_limit <= cfg.sampling_rate / 2:
        raise ConfigError(f"filter limits must satisfy 0 <= filter_low_lim < filter_high_lim <= sampling_rate/2, "
                          f"got {cfg.filter_low_lim} and {cfg.high_limit}")
    for name in cfg.features_list + cfg.regularizers_list:
        if name not in FEATURES:
            raise ConfigError(f"unknown feature {name!r}; choose from {', '.join(FEATURES)}")
    if not cfg.features_list:
        raise ConfigError("config key 'features_list' must name at least one feature")
    if len(cfg.alpha) != 4:
        raise ConfigError(f"config key 'alpha' needs 4 numbers, got {len(cfg.alpha)}")
    if len(cfg.beta) != 5:
        raise ConfigError(f"config key 'beta' needs 5 numbers, got {len(cfg.beta)}")
    if not 0 < cfg.validation_fraction < 1:
        raise ConfigError(f"config key 'validation_fraction' must be in (0, 1), got {cfg.validation_fraction}")
    if cfg.learning_rate <= 0:
        raise ConfigError(f"config key 'learning_rate' must be positive, got {cfg.learning_rate}")
    if cfg.architecture == "PVAE":
        for key in ("atoms_number", "vae_latent_dim", "vae_hidden", "vae_epochs", "vae_param_per_env"):
            if getattr(cfg, key) < 1:
                raise ConfigError(f"config key '{key}' must be >= 1, got {getattr(cfg, key)}")
        if cfg.vae_grain_size % 2 or not 256 <= cfg.vae_grain_size <= cfg.frame_size:
            raise ConfigError(f"config key 'vae_grain_size' must be even, >= 256 and <= frame_size, "
                              f"got {cfg.vae_grain_size}")
        if cfg.vae_param_per_env % 2:
            raise ConfigError(f"config key 'vae_param_per_env' must be even, got {cfg.vae_param_per_env}")
        if cfg.max_rate <= 0 or cfg.event_temperature <= 0 or cfg.vae_beta < 0:
            raise ConfigError("config keys 'max_rate' and 'event_temperature' must be > 0, 'vae_beta' >= 0")
    if cfg.carrier_spectrum not in ("corpus", "flat"):
        raise ConfigError(f"config key 'carrier_spectrum' must be 'corpus' or 'flat', got {cfg.carrier_spectrum!r}")
    if cfg.device not in ("auto", "cpu", "cuda") and not cfg.device.startswith("cuda:"):
        raise ConfigError(f"config key 'device' must be 'auto', 'cpu' or 'cuda', got {cfg.device!r}")


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a JSON config file (paths inside are relative to the current directory)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
    return parse_config(data, Path.cwd())
