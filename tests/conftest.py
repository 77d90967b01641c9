import os
from pathlib import Path

import numpy as np
import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):       # pytest -n 2: two workers on two cores, one torch thread each
    torch.set_num_threads(1)                     # (two threads per worker stall each other's FFTs), and the
    os.environ.setdefault("DDSP_TEXTURES_THREADS", "1")     # command-line runs they start take one too


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "recordings"


@pytest.fixture
def recording():
    """Load an excerpt of a real recording from ``../shared/recordings`` (mono, resampled); skip if absent."""
    from ddsp_textures.dsp.audio import load_audio

    def load(name: str, fs: int, start: float = 0.0, seconds: float = 5.0) -> np.ndarray:
        path = RECORDINGS / name
        if not path.is_file():
            pytest.skip(f"real recording {path} not available")
        x = load_audio(path, fs)
        return np.ascontiguousarray(x[int(start * fs): int((start + seconds) * fs)])

    return load
