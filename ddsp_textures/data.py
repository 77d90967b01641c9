"""Audio loading, framing and the training dataset (book chapter: *DDSP training*)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly
from torch.utils.data import Dataset

from .features import compute_features
from .filterbanks import FilterBank
from .textures import make_texture

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")


def resample(x: np.ndarray, from_fs: int, to_fs: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) of a mono signal."""
    if from_fs == to_fs:
        return x
    ratio = Fraction(int(to_fs), int(from_fs)).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def load_audio(path: str | Path, fs: int) -> np.ndarray:
    """Read an audio file as mono float32 at ``fs`` (channels averaged, any rate resampled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        data, file_fs = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise ValueError(f"cannot read {path} as audio: {err}") from None
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise ValueError(f"{path} contains NaN or inf samples")
    return resample(mono, file_fs, fs)


def save_audio(path: str | Path, x: np.ndarray | torch.Tensor, fs: int) -> None:
    """Write mono audio as 16-bit PCM WAV (clipped to [-1, 1])."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(np.asarray(x, dtype=np.float32), -1, 1), int(fs), subtype="PCM_16")


def procedural_source(spec: str, fs: int, seed: int) -> list[np.ndarray]:
    """``procedural:NAME?seconds=30&rate=20`` → one generated texture (default 30 s)."""
    body = spec.removeprefix("procedural:")
    name, _, query = body.partition("?")
    params = {k: float(v) for k, v in parse_qsl(query)}
    seconds = params.pop("seconds", 30.0)
    return [make_texture(name, seconds=seconds, fs=fs, seed=seed, **params)]


def load_sources(audio_path: str, fs: int, seed: int = 0) -> list[np.ndarray]:
    """All signals of a training source: a folder of audio files, one file, or ``procedural:NAME``."""
    if audio_path.startswith("procedural:"):
        return procedural_source(audio_path, fs, seed)
    path = Path(audio_path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in folder {path}")
        return [load_audio(p, fs) for p in files]
    return [load_audio(path, fs)]


def frame_signal(x: np.ndarray | torch.Tensor, frame_size: int, hop: int) -> torch.Tensor:
    """All full frames ``x[i·hop : i·hop + L]`` (the last valid frame included): ``(n,) -> (F, L)``."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if x.shape[-1] < frame_size:
        raise ValueError(f"audio of {x.shape[-1]} samples is shorter than one frame ({frame_size} samples)")
    return x.unfold(-1, frame_size, hop)


def zscore(frames: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-variance frames (silent frames stay 0)."""
    centred = frames - frames.mean(-1, keepdim=True)
    return centred / (centred.std(-1, keepdim=True) + 1e-8)


def tape_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Pitch *and* speed shift by resampling (a tape-speed change), for data augmentation."""
    ratio = Fraction(2 ** (-semitones / 12)).limit_denominator(200)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


class TextureDataset(Dataset):
    """Sequences of ``sequence_length`` consecutive z-scored frames with their features.

    Item ``i`` is ``(audio (S, L), feature_1 (S, d_1), ...)``; sequences do not cross file boundaries.
    """

    def __init__(self, signals: list[np.ndarray], frame_size: int, hop: int, sequence_length: int,
                 feature_names: list[str], bank: FilterBank) -> None:
        audio, feats = [], []
        needed = frame_size + (sequence_length - 1) * hop
        for sig in signals:
            if len(sig) < needed:
                continue
            frames = zscore(frame_signal(sig, frame_size, hop))
            n_seq = frames.shape[0] // sequence_length
            frames = frames[: n_seq * sequence_length].reshape(n_seq, sequence_length, frame_size)
            with torch.no_grad():
                f = compute_features(frames, feature_names, bank)
            audio.append(frames)
            feats.append(f)
        if not audio:
            longest = max((len(s) for s in signals), default=0)
            raise ValueError(f"audio too short: one training sequence needs {needed} samples "
                             f"({sequence_length} frames of {frame_size} with hop {hop}), longest file has {longest}")
        self.audio = torch.cat(audio)
        self.features = [torch.cat([f[i] for f in feats]) for i in range(len(feature_names))]

    def __len__(self) -> int:
        return self.audio.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return (self.audio[i], *(f[i] for f in self.features))
