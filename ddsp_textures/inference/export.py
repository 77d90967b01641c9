"""One portable file: a trained TexDSP run as a TorchScript stream (book chapter: *DDSP training*, section *Play
it live*).

``python -m ddsp_textures export RUN OUT.ts`` writes the :class:`~ddsp_textures.inference.streaming.StreamCore` of
the run
— its networks traced for one frame, the TexEnv synth, the reference's feature trajectory and clicks as buffers, the
stream logic scripted — to one file that loads with ``torch.jit.load`` alone::

    stream = torch.jit.load("fire.ts")
    stream.reset(0)
    stream.set_controls(-6.0, float("nan"), float("nan"))     # loudness dB, centroid Hz, rate events/s
    block = stream.block()                                     # (stream.block_size,) float32

It plays what :class:`~ddsp_textures.inference.streaming.TextureStream` plays, sample for sample.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from ddsp_textures.inference.streaming import TexDSPNetwork, renderer_for, stream_core
from ddsp_textures.models import TexDSP

MIN_BLOCK, MAX_EXPORT_BLOCK = 256, 16384


def scripted_stream(model: TexDSP, reference: np.ndarray | torch.Tensor, block_size: int = 2048,
                    transients: str | bool | None = "default") -> torch.jit.ScriptModule:
    """The TorchScript stream of a TexDSP model (see the module docstring)."""
    if getattr(model, "synthesizes_events", False):
        raise ValueError(f"export supports TexDSP runs; this run is a {type(model).__name__}, whose events are "
                         f"drawn inside the network (stream it with the library: TextureStream or the 'stream' "
                         f"command)")
    if not getattr(model, "exportable", False):
        raise ValueError(f"export needs a TexDSP model, got {type(model).__name__}")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or \
            not MIN_BLOCK <= block_size <= MAX_EXPORT_BLOCK:
        raise ValueError(f"block size must be an integer in [{MIN_BLOCK}, {MAX_EXPORT_BLOCK}], got {block_size!r}")
    for name, p in model.state_dict().items():
        if p.is_floating_point() and not bool(torch.isfinite(p).all()):
            raise ValueError(f"the run's weights are damaged: {name} has NaN or inf values")
    model = model.cpu().eval()
    net = TexDSPNetwork(model).eval()
    example = (torch.zeros(1, 2, sum(net.dims)), torch.zeros(1, 1, model.encoder.gru.hidden_size))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, example, check_trace=False)
    renderer = renderer_for(model, traced)
    with torch.no_grad():
        core = stream_core(model, reference, transients, block_size=block_size, renderer=renderer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.script(core)


def export_stream(model: TexDSP, reference: np.ndarray | torch.Tensor, path: str | os.PathLike,
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
