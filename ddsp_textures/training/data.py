"""Training data: file, folder and procedural sources, framing, the dataset and its lazy on-disk cache (book chapter:
*DDSP training*).  Audio files are read and written by :mod:`ddsp_textures.dsp.audio`."""

from __future__ import annotations

import json
import warnings
from fractions import Fraction
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly
from torch.utils.data import Dataset

from ddsp_textures.dsp.audio import AUDIO_SUFFIXES, MIN_FILE_RATE, audio_files, load_audio
from ddsp_textures.dsp.filterbanks import FilterBank
from ddsp_textures.dsp.framing import frame_signal, zscore
from ddsp_textures.stats.features import compute_features
from ddsp_textures.textures import make_texture

INFERENCE_BYTES_PER_SAMPLE = 160  # working memory of resynthesis / generation per input sample (measured: 30–95)


def check_inference_input(path: str | Path, fs: int) -> None:
    """Refuse an input that resynthesis or generation could not hold in memory at ``fs``, naming the file, before
    it is read (a 2000-sample file whose header says 1 Hz is 5.6 hours at 44.1 kHz)."""
    from ddsp_textures.training.config import physical_memory

    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError):
        return                                           # load_audio reports it
    if info.samplerate < MIN_FILE_RATE:
        return
    samples = info.frames * fs / info.samplerate
    need, have = samples * INFERENCE_BYTES_PER_SAMPLE, physical_memory()
    if need > have / 2:
        raise ValueError(f"{path} is {info.frames / info.samplerate / 60:.0f} min long at {fs} Hz; processing it "
                         f"needs about {need / 2**30:.0f} GiB, this machine has {have / 2**30:.0f} GiB: cut it into "
                         f"shorter files")


MAX_PROCEDURAL_SECONDS = 3600.0


def parse_procedural(spec: str, fs: int) -> tuple[str, float, dict[str, float]]:
    """Check ``procedural:NAME?seconds=30&rate=20`` and return ``(name, seconds, controls)``; every problem is
    one ``ValueError`` naming the parameter."""
    from ddsp_textures.textures import MAX_EVENTS, MAX_RATE, TEXTURES, check_arguments, controls_of

    body = spec.removeprefix("procedural:")
    name, _, query = body.partition("?")
    if name not in TEXTURES:
        raise ValueError(f"unknown procedural texture {name!r}; choose from {', '.join(TEXTURES)}")
    params: dict[str, float] = {}
    for key, text in parse_qsl(query, keep_blank_values=True):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"procedural parameter '{key}' must be a number, got {text!r}") from None
        if not np.isfinite(value):
            raise ValueError(f"procedural parameter '{key}' must be finite, got {text!r}")
        params[key] = value
    seconds = params.pop("seconds", 30.0)
    if not 0 < seconds <= MAX_PROCEDURAL_SECONDS:
        raise ValueError(f"procedural parameter 'seconds' must be in (0, {MAX_PROCEDURAL_SECONDS:g}], got {seconds:g}")
    allowed = controls_of(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"unknown procedural parameter(s) {', '.join(unknown)} for {name!r}; "
                         f"valid: seconds, {', '.join(allowed)}")
    if fs < 8000:
        raise ValueError(f"procedural textures need a sampling_rate of at least 8000 Hz, got {fs}")
    check_arguments(seconds, fs, params.get("rate", 0.0), params.get("intensity", 0.0), params.get("brightness", 1.0))
    if params.get("rate", 0.0) > MAX_RATE:
        raise ValueError(f"procedural parameter 'rate' must be in [0, {MAX_RATE:g}] events/s, got {params['rate']:g}")
    if params.get("rate", 0.0) * seconds > MAX_EVENTS:
        raise ValueError(f"procedural parameters: rate × seconds = {params['rate'] * seconds:g} events is more than "
                         f"{MAX_EVENTS:g}; use fewer seconds or a lower rate")
    return name, seconds, params


def procedural_source(spec: str, fs: int, seed: int) -> list[np.ndarray]:
    """``procedural:NAME?seconds=30&rate=20`` → one generated texture (default 30 s)."""
    name, seconds, params = parse_procedural(spec, fs)
    return [make_texture(name, seconds=seconds, fs=fs, seed=seed, **params)]


def source_seconds(audio_path: str) -> float | None:
    """Total duration of a training source without decoding it (``None`` if it cannot be read: loading will
    report why)."""
    if audio_path.startswith("procedural:"):
        try:
            return parse_procedural(audio_path, 44100)[1]
        except ValueError:
            return None
    path = Path(audio_path)
    files = audio_files(path) if path.is_dir() else [path]
    if not all(p.is_file() for p in files):        # a FIFO or device: opening it could wait forever
        return None
    try:
        return float(sum(sf.info(str(p)).duration for p in files))
    except (OSError, RuntimeError, sf.LibsndfileError):
        return None


def load_sources(audio_path: str, fs: int, seed: int = 0) -> list[np.ndarray]:
    """All signals of a training source: a folder of audio files, one file, or ``procedural:NAME``."""
    if audio_path.startswith("procedural:"):
        return procedural_source(audio_path, fs, seed)
    path = Path(audio_path)
    if path.is_dir():
        files = audio_files(path)
        if not files:
            raise FileNotFoundError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in folder {path}")
        return [load_audio(p, fs) for p in files]
    return [load_audio(path, fs)]


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

    @classmethod
    def from_tensors(cls, audio: torch.Tensor, features: list[torch.Tensor]) -> TextureDataset:
        """A dataset of already framed sequences ``(n, S, L)`` and their features ``(n, S, d_i)``."""
        data = cls.__new__(cls)
        Dataset.__init__(data)
        data.audio, data.features = audio, list(features)
        return data

    def subset(self, idx: torch.Tensor) -> TextureDataset:
        """The items ``idx`` as a new dataset (tensors indexed, not copied per item)."""
        return TextureDataset.from_tensors(self.audio[idx], [f[idx] for f in self.features])

    def __len__(self) -> int:
        return self.audio.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return (self.audio[i], *(f[i] for f in self.features))


def cached_sources(audio_path: str, fs: int, cache_dir: str | Path, seed: int = 0) -> list[np.ndarray]:
    """The signals of a training source as read-only memory-mapped float32 arrays, decoded once into
    ``cache_dir`` (one ``.npy`` per file, named by the file's path, size, modification time and ``fs``; a changed
    file gets a new entry).  Only one file is decoded in memory at a time, and training then reads frames from
    disk on demand, so memory does not grow with the corpus (:class:`LazyTextureDataset`).  Procedural sources
    are generated in memory as usual.
    """
    import hashlib

    if audio_path.startswith("procedural:"):
        return load_sources(audio_path, fs, seed)
    path = Path(audio_path)
    files = audio_files(path) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in folder {path}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"audio file not found: {file}")
        stat = file.stat()
        key = hashlib.sha1(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{fs}".encode()).hexdigest()[:16]
        entry = cache / f"{file.stem[:40]}-{key}.npy"
        problem = _check_cache_entry(entry) if entry.is_file() else "missing"
        if problem not in ("missing", "unverified", None):
            warnings.warn(f"cache entry {entry} is damaged ({problem}); decoding {file} again", stacklevel=2)
        if problem is not None:
            _write_cache_entry(entry, load_audio(file, fs).astype(np.float32))
        out.append(np.load(entry, mmap_mode="r"))
    return out


def _digest(data: np.ndarray) -> str:
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for start in range(0, data.shape[0], 2**22):
        digest.update(np.ascontiguousarray(data[start:start + 2**22]).tobytes())
    return digest.hexdigest()


def _write_cache_entry(entry: Path, data: np.ndarray) -> None:
    """The decoded signal and its check (``.json``: samples and checksum), each written under a temporary name
    and renamed: a killed conversion leaves no entry that passes the check."""
    partial = entry.with_suffix(".partial.npy")
    np.save(partial, data)
    check = entry.with_suffix(".json.partial")
    check.write_text(json.dumps({"samples": int(data.shape[0]), "blake2b": _digest(data)}))
    partial.replace(entry)
    check.replace(entry.with_suffix(".json"))


def _check_cache_entry(entry: Path) -> str | None:
    """Why a cache entry cannot be used (``None`` if it can): unreadable, not a 1-D float32 array, another length
    or another checksum than when it was written, or ``"unverified"`` (written before entries had checks)."""
    try:
        data = np.load(entry, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        return f"unreadable: {str(err).splitlines()[0][:80]}"
    if not isinstance(data, np.ndarray) or data.dtype != np.float32 or data.ndim != 1:
        return "not a 1-D float32 array"
    try:
        check = json.loads(entry.with_suffix(".json").read_text())
        samples, digest = int(check["samples"]), str(check["blake2b"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unverified"
    if samples != data.shape[0]:
        return f"{data.shape[0]} samples instead of {samples}"
    if _digest(data) != digest:
        return "its checksum does not match"
    return None


class LazyTextureDataset(Dataset):
    """The items of :class:`TextureDataset`, read from the signals (e.g. memory-mapped files,
    :func:`cached_sources`) only when a batch asks for them: z-scoring and features are computed per batch.

    Indexing with a tensor of item indices returns a batch ``(audio (B, S, L), feature_1 (B, S, d_1), ...)``.
    """

    lazy = True

    def __init__(self, signals: list[np.ndarray], frame_size: int, hop: int, sequence_length: int,
                 feature_names: list[str], bank: FilterBank, items: torch.Tensor | None = None) -> None:
        self.signals, self.frame_size, self.hop, self.sequence_length = signals, frame_size, hop, sequence_length
        self.feature_names, self.bank = list(feature_names), bank
        if items is None:
            rows = []
            needed = frame_size + (sequence_length - 1) * hop
            for i, sig in enumerate(signals):
                n_frames = (len(sig) - frame_size) // hop + 1 if len(sig) >= frame_size else 0
                rows += [(i, k * sequence_length * hop) for k in range(n_frames // sequence_length)]
            if not rows:
                longest = max((len(s) for s in signals), default=0)
                raise ValueError(f"audio too short: one training sequence needs {needed} samples "
                                 f"({sequence_length} frames of {frame_size} with hop {hop}), longest file has "
                                 f"{longest}")
            items = torch.tensor(rows, dtype=torch.int64)
        self.items = items

    def subset(self, idx: torch.Tensor) -> LazyTextureDataset:
        return LazyTextureDataset(self.signals, self.frame_size, self.hop, self.sequence_length,
                                  self.feature_names, self.bank, self.items[idx])

    def __len__(self) -> int:
        return self.items.shape[0]

    def __getitem__(self, i: int | torch.Tensor) -> tuple[torch.Tensor, ...]:
        rows = self.items[i].reshape(-1, 2)
        span = self.frame_size + (self.sequence_length - 1) * self.hop
        blocks = [torch.from_numpy(np.array(self.signals[int(s)][int(start):int(start) + span], dtype=np.float32))
                  for s, start in rows]
        audio = zscore(torch.stack(blocks).unfold(-1, self.frame_size, self.hop))       # (B, S, L)
        with torch.no_grad():
            feats = compute_features(audio, self.feature_names, self.bank)
        if isinstance(i, int):
            return (audio[0], *(f[0] for f in feats))
        return (audio, *feats)
