"""Execute the book's chapters side by side, into the cache that ``jupyter-book build`` reads.

    python tests/execute_book.py [--jobs 2]

The book executes its chapters in full mode when it builds (``_config.yml``: ``execute_notebooks: cache``), one
after the other.  This script runs them first, ``--jobs`` at a time (longest first, each in its own kernel, one
torch thread each as the chapters ask), reading each chapter as myst-nb reads it and storing the executed
notebook in ``_build/.jupyter_cache`` as myst-nb would; the build then finds every chapter cached and only
renders.  A chapter already cached with the same code is not run again.  A failing cell prints its traceback and
makes the script exit with status 1, as it would fail the build.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"


def chapters() -> list[Path]:
    """The book's executable chapters (MyST notebooks with a kernelspec) in ``_toc.yml``, largest first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entries = [toc.get("root")] + [part.get("file") for part in toc.get("chapters", [])]
    paths = [ROOT / f"{entry}.md" for entry in entries if entry]
    notebooks = [p for p in paths if p.is_file() and "kernelspec:" in p.read_text().split("\n---", 1)[0]]
    return sorted(notebooks, key=lambda p: p.stat().st_size, reverse=True)


def read(path: Path):  # noqa: ANN201
    """The notebook that myst-nb builds from a chapter (same cells and metadata, so the same cache key)."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    return read_myst_markdown_notebook(path.read_text(), MdParserConfig(), add_source_map=True, path=str(path))


def execute(path: Path, timeout: int) -> tuple[dict, float, str | None]:
    """Run one chapter in its own kernel from its folder: the executed notebook, seconds, and the traceback of a
    failed cell (``None`` if none failed)."""
    from jupyter_cache.executors.utils import single_nb_execution

    # the build's patch: a missed wake-up of a kernel reply costs one 0.5-s slice, not the 300-s cell timeout
    sys.path.insert(0, str(ROOT / "_ext"))
    import kernel_wakeups

    kernel_wakeups.install()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                 "DDSP_TEXTURES_THREADS"):
        os.environ[name] = "1"            # chapters side by side: one thread each (BLAS workers spin-wait)
    notebook = read(path)
    result = single_nb_execution(notebook, cwd=str(path.parent), allow_errors=False, timeout=timeout,
                                 meta_override=True)
    return notebook, result.time, None if result.err is None else (result.exc_string or repr(result.err))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="chapters executed at the same time (default 2)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell, as the build (default 300)")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(CACHE))
    todo = []
    for path in chapters():
        try:
            cache.match_cache_notebook(read(path))
            print(f"cached   {path.relative_to(ROOT)}", flush=True)
        except KeyError:
            todo.append(path)
    failed, start = [], time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        running = {pool.submit(execute, path, args.timeout): path for path in todo}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                path = running.pop(future)
                notebook, seconds, error = future.result()
                if error is None:
                    cache.cache_notebook_bundle(CacheBundleIn(notebook, str(path), data={"execution_seconds": seconds}),
                                                check_validity=False, overwrite=True)
                    print(f"executed {path.relative_to(ROOT)} in {seconds:.0f} s", flush=True)
                else:
                    failed.append(path)
                    print(f"FAILED   {path.relative_to(ROOT)} after {seconds:.0f} s\n{error}", file=sys.stderr,
                          flush=True)
    print(f"{len(todo)} chapters executed in {time.perf_counter() - start:.0f} s with {args.jobs} jobs; "
          f"{len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
