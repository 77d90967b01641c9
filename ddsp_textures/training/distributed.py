"""Data-parallel training with PyTorch's own engine: ``torch.distributed`` + ``DistributedDataParallel``, launched
by ``torchrun`` (book appendix *Reference*, *Scaling up*).

``torchrun --nproc_per_node=K -m ddsp_textures train CONFIG.json`` starts ``K`` processes (*ranks*) that each hold
the whole model.  Every epoch all ranks draw the same global batch order (seeded by ``(seed, epoch)``); a global
batch holds ``K × batch_size`` items and rank ``r`` takes the ``r``-th contiguous shard of it, so
``batch_size`` is the per-rank batch.  DDP averages the gradients, which makes a K-rank run equal — to float
tolerance, when every global batch splits evenly — to a one-process run with ``batch_size`` ``K·b``.  NCCL
connects GPU ranks, gloo CPU ranks; rank 0 alone writes the run directory, checkpoints and logs.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    """Where this process sits in a (possibly one-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def environment_ranks() -> Ranks:
    """The ranks ``torchrun`` exported (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), or a single process."""
    try:
        return Ranks(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise RuntimeError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun)") from None


def setup(device: torch.device) -> Ranks:
    """Join the process group of a ``torchrun`` launch (NCCL for CUDA, gloo otherwise); a no-op for one process."""
    ranks = environment_ranks()
    if ranks.active and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return ranks


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """One GPU per rank (``cuda:LOCAL_RANK``); CPU ranks share the CPU."""
    if device.type == "cuda" and ranks.active:
        return torch.device("cuda", ranks.local_rank)
    return device


def shard(batch: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """This rank's contiguous part of a global batch of item indices.

    >>> shard(torch.arange(8), Ranks(1, 2, 1)).tolist()
    [4, 5, 6, 7]
    """
    return batch.tensor_split(ranks.world_size)[ranks.rank] if ranks.active else batch


def all_true(flag: bool, ranks: Ranks, device: torch.device) -> bool:
    """``flag`` on every rank (e.g. a finite loss: if one rank skips a step, all must, or DDP would hang)."""
    if not ranks.active:
        return flag
    value = torch.tensor(float(flag), device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0.5)


def sum_over_ranks(values: list[float], ranks: Ranks, device: torch.device) -> list[float]:
    """Element-wise sum of per-rank numbers (loss totals and item counts for the logs)."""
    if not ranks.active:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast_text(text: str, ranks: Ranks, device: torch.device) -> str:
    """Rank 0's ``text`` (e.g. the run directory it created) on every rank, sent as UTF-8 bytes (no pickling)."""
    if not ranks.active:
        return text
    data = torch.tensor(list(text.encode("utf-8")) if ranks.is_main else [], dtype=torch.uint8)
    size = torch.tensor([data.numel()], dtype=torch.int64, device=device)
    dist.broadcast(size, src=0)
    buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
    if ranks.is_main:
        buffer.copy_(data.to(device))
    dist.broadcast(buffer, src=0)
    return bytes(buffer.cpu().tolist()).decode("utf-8")


ERROR_MARK = "\x00error:"       # a broadcast text that carries rank 0's error instead of a result


@contextlib.contextmanager
def errors_to_ranks(ranks: Ranks, device: torch.device):  # noqa: ANN201
    """On rank 0: a :class:`~ddsp_textures.training.config.ConfigError` (or ``ValueError``/``OSError``) raised inside is
    sent to the other ranks (:func:`receive_or_raise`) before it propagates, so that they stop with the same
    one-line error instead of waiting for a rank that is gone."""
    try:
        yield
    except (ValueError, OSError) as err:
        if ranks.active:
            broadcast_text(ERROR_MARK + str(err), ranks, device)
        raise


def receive_or_raise(ranks: Ranks, device: torch.device) -> str:
    """On the other ranks: rank 0's text, or its error raised here as a
    :class:`~ddsp_textures.training.config.ConfigError` with the same message."""
    from ddsp_textures.training.config import ConfigError

    text = broadcast_text("", ranks, device)
    if text.startswith(ERROR_MARK):
        raise ConfigError(text[len(ERROR_MARK):])
    return text


def lost_peer(err: BaseException) -> bool:
    """Whether ``err`` is a collective that failed because another rank of a torchrun launch is gone."""
    text = str(err)
    return environment_ranks().active and any(s in text for s in (
        "Connection closed by peer", "Connection reset by peer", "gloo", "NCCL", "Broken pipe", "ProcessGroup"))


def cleanup() -> None:
    """Leave the process group (after the run; a no-op without one)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
