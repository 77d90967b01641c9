"""Deprecated spellings of renamed public names: they still work and warn once per call site.

The public API spells ``-ize`` (``resynthesize``, ``analyze_transients``, ``equalize_to``), and *equalize* means
one thing: filtering a signal so that its long-term spectrum follows a reference.  Setting each band's RMS is
:meth:`~ddsp_textures.dsp.filterbanks.FilterBank.set_band_rms`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any


def renamed(old: str, new: Callable[..., Any]) -> Callable[..., Any]:
    """``new`` under its deprecated name ``old``: same arguments and result, with a ``DeprecationWarning``.

    >>> import warnings
    >>> def twice(x):
    ...     return 2 * x
    >>> thrice_old = renamed("double_it", twice)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     (thrice_old(4), str(caught[0].message))
    (8, 'double_it is deprecated: use twice')
    """
    @functools.wraps(new)
    def alias(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(f"{old} is deprecated: use {new.__name__}", DeprecationWarning, stacklevel=2)
        return new(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old
    alias.__doc__ = f"Deprecated spelling of :func:`{new.__name__}`."
    return alias


def renamed_keywords(**old_to_new: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Accept the deprecated keyword ``old`` for ``new`` (with a ``DeprecationWarning``); both at once is an
    error.

    >>> @renamed_keywords(colour="color")
    ... def paint(color="red"):
    ...     return color
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     paint(colour="blue")
    'blue'
    """
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{func.__name__}() got both {old}= (deprecated) and {new}=")
                    warnings.warn(f"{func.__name__}({old}=...) is deprecated: use {new}=", DeprecationWarning,
                                  stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)
        return wrapper
    return decorate
