"""One portable file: a trained run (TexDSP, P-VAE or hybrid) as a TorchScript stream (book chapter: *DDSP
training*, section *Play it live*).

``python -m ddsp_textures export RUN OUT.ts`` writes the :class:`~ddsp_textures.inference.streaming.StreamCore` of
the run — its networks traced for one frame (no random draw inside them), its frame renderer and the stream
logic scripted (the synth, the Poisson events, the grain draws, the background), the reference's feature
trajectory and clicks as buffers — to one file that loads with ``torch.jit.load`` alone::

    stream = torch.jit.load("fire.ts")
    stream.reset(0)
    stream.set_controls(-6.0, float("nan"), float("nan"))     # loudness dB, centroid Hz, rate events/s
    block = stream.block()                                     # (stream.block_size,) float32

It plays what :class:`~ddsp_textures.inference.streaming.TextureStream` plays, sample for sample up to float
rounding.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from ddsp_textures.inference.frame_renderers import RENDERERS, StreamModel, traced_renderer
from ddsp_textures.inference.streaming import stream_core

MIN_BLOCK, MAX_EXPORT_BLOCK = 256, 16384


def scripted_stream(model: StreamModel, reference: np.ndarray | torch.Tensor, block_size: int = 2048,
                    transients: str | bool | None = "default") -> torch.jit.ScriptModule:
    """The TorchScript stream of a trained model (see the module docstring)."""
    if getattr(model, "architecture", None) not in RENDERERS or not getattr(model, "exportable", False):
        raise ValueError(f"export needs a TexDSP, P-VAE or hybrid model, got {type(model).__name__}")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or \
            not MIN_BLOCK <= block_size <= MAX_EXPORT_BLOCK:
        raise ValueError(f"block size must be an integer in [{MIN_BLOCK}, {MAX_EXPORT_BLOCK}], got {block_size!r}")
    for name, p in model.state_dict().items():
        if p.is_floating_point() and not bool(torch.isfinite(p).all()):
            raise ValueError(f"the run's weights are damaged: {name} has NaN or inf values")
    model = model.cpu().eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        core = stream_core(model, reference, transients, block_size=block_size, renderer=traced_renderer(model))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.script(core)


def export_stream(model: StreamModel, reference: np.ndarray | torch.Tensor, path: str | os.PathLike,
                  block_size: int = 2048, transients: str | bool | None = "default") -> Path:
    """Write :func:`scripted_stream` to ``path`` (atomically: a temporary file renamed into place)."""
    path = Path(path)
    scripted = scripted_stream(model, reference, block_size, transients)
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    try:
        torch.jit.save(scripted, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
