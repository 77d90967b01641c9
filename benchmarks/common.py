"""Shared helpers of the benchmark scripts: timing, peak memory in a subprocess, result files."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, str]:
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cpu_threads": str(torch.get_num_threads()), "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], object], device: torch.device, repeat: int = 3, warmup: int = 1) -> float:
    """Median wall time (s) of ``fn`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB): ``VmHWM`` of ``/proc/self/status`` where there is
    one — ``ru_maxrss`` survives ``exec``, so a worker started by a large parent would report the parent's
    peak — else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(module: str, args: dict, timeout: float = 1800) -> dict:
    """Run ``python -m module --worker JSON`` from the repository root in a fresh interpreter (so peak memory is
    per measurement); ``module`` is the benchmark's ``__spec__.name``, e.g. ``benchmarks.bench_texstat``."""
    proc = subprocess.run([sys.executable, "-m", module, "--worker", json.dumps(args)], capture_output=True,
                          text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_results(name: str, title: str, rows: list[dict], columns: list[tuple[str, str]], notes: str = "") -> Path:
    """Write ``results/<name>.json`` and a Markdown table ``results/<name>.md``."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    lines = [f"# {title}", "", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), ""]
    if notes:
        lines += [notes, ""]
    lines.append("| " + " | ".join(label for _, label in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key, "")
            cells.append(f"{value:.4g}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())
    return path


SUMMARY_START, SUMMARY_END = "<!-- summary -->", "<!-- /summary -->"


def add_summary(path: Path, table: list[str]) -> None:
    """Put a digest ``table`` (Markdown lines) first in a results file, after its ``Machine:`` line, replacing an
    earlier one: ``benchmarks/README.md`` shows the first table of a results file (``render_readme``)."""
    text = path.read_text()
    if SUMMARY_START in text:
        head, rest = text.split(SUMMARY_START, 1)
        text = head.rstrip("\n") + "\n\n" + rest.split(SUMMARY_END, 1)[1].lstrip("\n")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Machine:")) + 1
    block = ["", SUMMARY_START, "Summary (the full table follows):", "", *table, SUMMARY_END]
    path.write_text("\n".join(lines[:at] + block + lines[at:]) + "\n")
