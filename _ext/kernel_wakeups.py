"""Sphinx extension for the book build: kernel replies are polled in short slices.

Observed in this project's book builds (jupyter-book 1 → myst-nb → nbclient → jupyter_client's asyncio
channels → pyzmq 27): now and then a chapter sits idle for exactly the cell timeout (300 s) with the kernel
idle and its reply already sent, and then goes on *without an error* — chapter 2 took 306 s instead of 6 s,
chapter 5 360 s instead of 66 s, on a loaded 2-core machine.  The reply was in the socket all along: pyzmq's
asyncio ``poll`` waits for an edge-triggered wake-up of the socket's file descriptor, and when that wake-up is
missed it only sees the message at the poll's timeout, when it polls the socket once more (``poll(0)``).

``jupyter_client``'s :meth:`AsyncZMQSocketChannel.get_msg` polls once for the whole timeout.  This extension
replaces it with the same poll cut in slices of at most :data:`SLICE_S` seconds, so that a missed wake-up costs
at most one slice; the overall timeout, the returned message and the ``Empty`` at the end are unchanged.
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

SLICE_S = 0.5


async def sliced_get_msg(self: Any, timeout: float | None = None) -> dict[str, Any]:
    """``AsyncZMQSocketChannel.get_msg`` that polls in slices of at most :data:`SLICE_S` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        step = SLICE_S if remaining is None else min(SLICE_S, remaining)
        if await self.socket.poll(int(step * 1000)):
            return await self._recv()
        if remaining is not None and remaining <= step:
            raise Empty


def install() -> None:
    """Patch ``jupyter_client.channels.AsyncZMQSocketChannel.get_msg`` (idempotent)."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    AsyncZMQSocketChannel.get_msg = sliced_get_msg  # type: ignore[method-assign]


def setup(app: Any) -> dict[str, Any]:
    install()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
