"""Collect the jupytext MyST chapters (``*.md``) as notebooks under ``pytest --nbval book/``.

nbval only collects ``.ipynb`` files.  The chapters are text-only sources without stored outputs, so their
outputs are not compared (as with ``--nbval-lax``); each chapter checks its claims with ``assert`` cells,
and any exception fails the cell.  ``DDSP_TEXTURES_QUICK=1`` is exported so chapters use their quick mode.
"""

from __future__ import annotations

import os

import jupytext
import nbformat

try:
    from nbval.plugin import IPyNbFile
except ImportError:  # nbval not installed: nothing to collect
    IPyNbFile = None

os.environ.setdefault("DDSP_TEXTURES_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):        # pytest -n 2: chapters side by side, one thread each (BLAS
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                 "DDSP_TEXTURES_THREADS"):       # workers spin-wait for a core the other chapter holds)
        os.environ.setdefault(name, "1")


def _is_chapter(path) -> bool:
    if path.suffix != ".md":
        return False
    head = path.read_text(encoding="utf-8")[:400]
    return head.startswith("---") and "jupytext" in head


if IPyNbFile is not None:

    class MarkdownNotebook(IPyNbFile):
        """An nbval notebook read from a jupytext MyST file."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.compare_outputs = False

        def collect(self):
            original = nbformat.read
            nbformat.read = lambda path, as_version=4, **kw: jupytext.read(path)
            try:
                yield from super().collect()
            finally:
                nbformat.read = original


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if IPyNbFile is not None and (getattr(opt, "nbval", False) or getattr(opt, "nbval_lax", False)):
        if _is_chapter(file_path):
            return MarkdownNotebook.from_parent(parent, path=file_path)
    return None
