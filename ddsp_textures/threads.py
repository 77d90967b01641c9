"""CPU thread policy for torch, shared by the command line and the book's chapters.

Two torch threads on a 2-core machine whose other core is busy stall: each parallel FFT waits for a descheduled
worker.  Measured while another process kept one core busy: chapter 1 of the book took more than 250 s with
torch's default of two threads (and 149 s with ``OMP_WAIT_POLICY=PASSIVE``), 11 s with one; on an idle machine
one thread costs about 15 % (chapter 3: 26 s → 30 s).  A book build once spent 8 minutes in chapter 1 this way.
"""

from __future__ import annotations

import os

import torch

ENVIRONMENT = "DDSP_TEXTURES_THREADS"


def set_threads(requested: int | None = None, default: int | None = None) -> int:
    """Set torch's intra-op CPU threads: ``requested``, else ``$DDSP_TEXTURES_THREADS``, else ``default``
    (``None``: leave torch's choice, one per core).  Returns the number of threads in effect.

    >>> import torch
    >>> previous = torch.get_num_threads()
    >>> set_threads(1)
    1
    >>> _ = torch.set_num_threads(previous)
    """
    if requested is None:
        env = os.environ.get(ENVIRONMENT, "").strip()
        if env:
            if not env.isdigit() or int(env) < 1:
                raise ValueError(f"{ENVIRONMENT} must be a positive integer, got {env!r}")
            requested = int(env)
        else:
            requested = default
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
            raise ValueError(f"--threads must be a positive integer, got {requested}")
        torch.set_num_threads(requested)
    return torch.get_num_threads()
