"""Build the book several times and report per-chapter execution time (the stall detector of the book build).

    python -m benchmarks.bench_book --runs 5          # full chapters, as `jupyter-book build .` runs them
    python -m benchmarks.bench_book --runs 3 --quick  # chapters in quick mode (DDSP_TEXTURES_QUICK=1)

Each run is a fresh ``jupyter-book build`` into a temporary folder (notebooks are always re-executed:
``execute_notebooks: force``).  myst-nb prints ``<chapter>: Executed notebook in S seconds``; those lines and
the wall time of the whole build are collected.  The table gives min / median / max per chapter and flags any
run slower than twice the median (a stalled kernel, see the README).  Results go to ``results/book.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import write_results

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = re.compile(r"book/(\w+)\.md: Executed notebook in ([0-9.]+) seconds")


def build_once(quick: bool) -> tuple[dict[str, float], float, int]:
    env = dict(os.environ)
    if quick:
        env["DDSP_TEXTURES_QUICK"] = "1"
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.run(["jupyter-book", "build", str(ROOT), "--path-output", out, "-W", "-n", "--keep-going"],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - start
    times = {m.group(1): float(m.group(2)) for m in EXECUTED.finditer(proc.stdout + proc.stderr)}
    return times, wall, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="run the chapters in quick mode")
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    for i in range(args.runs):
        times, wall, rc = build_once(args.quick)
        times["whole build (wall)"] = wall
        runs.append(times)
        summary = ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
        print(f"run {i + 1}/{args.runs}: exit {rc}, {summary}", flush=True)
        if rc != 0:
            sys.exit(f"error: build {i + 1} failed with exit code {rc}")
    rows = []
    for name in sorted({k for r in runs for k in r}, key=lambda k: (k.startswith("whole"), k)):
        values = [r[name] for r in runs if name in r]
        median = statistics.median(values)
        rows.append({"chapter": name, "min": min(values), "median": median, "max": max(values),
                     "runs": " / ".join(f"{v:.1f}" for v in values),
                     "stall": "yes" if max(values) > 2 * median else "no"})
    mode = "quick" if args.quick else "full"
    write_results(f"book_{mode}", f"Book build time ({mode} chapters, {args.runs} runs)", rows,
                  [("chapter", "chapter"), ("min", "min (s)"), ("median", "median (s)"), ("max", "max (s)"),
                   ("runs", "each run (s)"), ("stall", "any run > 2× median")],
                  notes="Execution time per chapter as printed by myst-nb, and wall time of the whole "
                        "`jupyter-book build . -W -n --keep-going`.")


if __name__ == "__main__":
    main()
