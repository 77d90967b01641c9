"""Audio files: read any common format as mono float32 at a given rate (checked: header, length, samples), write
WAV or FLAC atomically (book chapter *Filterbanks and envelopes* reads the recordings with it).
"""

from __future__ import annotations

import errno
import os
import tempfile
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

MIN_FILE_RATE = 1000             # Hz: a file whose header says less is damaged, not audio
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")


def resample(x: np.ndarray, from_fs: int, to_fs: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) of a mono signal."""
    if from_fs == to_fs:
        return x
    ratio = Fraction(int(to_fs), int(from_fs)).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


MAX_SAMPLE = 1e4          # larger float samples are refused: their powers overflow float32 downstream


def load_audio(path: str | Path, fs: int) -> np.ndarray:
    """Read an audio file as mono float32 at ``fs`` (channels averaged, any rate resampled)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} is not a regular file (a folder, FIFO or device cannot be read as audio)")
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as err:
        raise ValueError(f"cannot read {path} as audio: {err}") from None
    if info.samplerate < MIN_FILE_RATE:
        raise ValueError(f"{path}: its header says {info.samplerate} Hz, which is not an audio sample rate (below "
                         f"{MIN_FILE_RATE} Hz; a damaged header?)")
    try:
        data, file_fs = sf.read(str(path), dtype="float32", always_2d=True)
        header = info.extra_info
    except (RuntimeError, sf.LibsndfileError) as err:
        raise ValueError(f"cannot read {path} as audio: {err}") from None
    if "(should be" in header:     # libsndfile's note when chunk sizes disagree with the file's length
        warnings.warn(f"{path} looks truncated (its header promises more data than the file holds); "
                      f"using the {len(data)} samples present", stacklevel=2)
    mono = data.mean(axis=1)
    if mono.size == 0:
        raise ValueError(f"{path} contains no audio samples")
    if not np.isfinite(mono).all():
        raise ValueError(f"{path} contains NaN or inf samples")
    peak = float(np.abs(mono).max())
    if peak > MAX_SAMPLE:
        raise ValueError(f"{path} has samples up to {peak:.3g}; audio is expected within about ±1 (a float file "
                         f"beyond ±{MAX_SAMPLE:g} is not sound at any level)")
    if not np.any(mono):
        warnings.warn(f"{path} is silent (all samples are 0)", stacklevel=2)
    return resample(mono, file_fs, fs)


def save_audio(path: str | Path, x: np.ndarray | torch.Tensor, fs: int, subtype: str = "PCM_16") -> None:
    """Write mono audio as 16-bit PCM (WAV, or FLAC for a ``.flac`` name), clipped to [-1, 1]; ``subtype="FLOAT"``
    writes 32-bit float WAV instead, sample for sample (no quantisation noise: what a benchmark trains from).

    The file is written next to ``path`` under a temporary name and renamed over it when complete, so a full
    disk or a kill never leaves a partial file, and a ``path`` that is a symbolic link is replaced, not followed
    (the file it pointed to is untouched).  An existing ``path`` that is not a regular file (a directory, a
    device such as ``/dev/full``, a FIFO) is refused.  Errors are :class:`OSError` naming ``path``.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    path = Path(path)
    if path.exists() and not path.is_file():       # exists() follows links: a dangling one is replaced
        raise OSError(errno.EEXIST, "exists and is not a regular file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if subtype not in ("PCM_16", "FLOAT"):
        raise ValueError(f"subtype must be 'PCM_16' or 'FLOAT', got {subtype!r}")
    if subtype == "FLOAT" and path.suffix.lower() == ".flac":
        raise ValueError(f"FLAC holds no float samples: write {path.name} as .wav")
    data = np.clip(np.asarray(x, dtype=np.float32), -1, 1)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        kind = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
        sf.write(temporary, data, int(fs), subtype=subtype, format=kind)
        os.replace(temporary, path)
    except (OSError, RuntimeError, sf.LibsndfileError) as err:
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise OSError(getattr(err, "errno", None) or errno.EIO, reason, str(path)) from None
    finally:
        Path(temporary).unlink(missing_ok=True)      # gone after the rename; a partial file otherwise


def audio_files(folder: Path) -> list[Path]:
    """The audio files (:data:`AUDIO_SUFFIXES`) of a folder, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def load_excerpt(path: str | Path, fs: int, seconds: float, start: float = 10.0) -> np.ndarray:
    """``seconds`` of a recording from ``start`` s on, as mono float32 at ``fs`` (:func:`load_audio`); from
    earlier where the recording ends before ``start + seconds``, the whole of a shorter one.

    Shape:
        ``-> (min(n, round(seconds·fs)),)``.
    """
    signal = load_audio(path, fs)
    first = int(min(start, max(0.0, len(signal) / fs - seconds)) * fs)
    return signal[first:first + int(seconds * fs)]
