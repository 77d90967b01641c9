"""Speed of the DSP resynthesis (``texenv_resynthesize``, the library's defaults: 16 bands, 256 parameters
per envelope, equaliser on) on one thread, per transient mode, before and after the speed work, in one run.

    python -m benchmarks.bench_resynthesis [--quick]

"before" runs the previous carriers, envelope analysis and chooser (``legacy_resynthesis.py``: full grids, and
``"auto"`` resynthesising all three candidates of the whole input); "after" the library's (each band on its own
small grid, ``"auto"`` comparing the candidates on a probe of four frames).  "previous" is the library before
its last round of numerics (``legacy_numerics.py``: TexStat's moments by powers, moduli by ``hypot``), which
"before" keeps too.  RTF = seconds of audio per second
of compute (best of two runs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import soundfile as sf
import torch

from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.metrics import frame_distances
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths.analysis import texenv_resynthesize

from .common import RESULTS, machine
from .legacy_numerics import previous_numerics
from .legacy_resynthesis import legacy_resynthesis

RECORDINGS = Path(__file__).resolve().parent.parent.parent / "shared" / "recordings"
MODES = (False, "clicks", "knocks", "auto")


def _rtf(x: torch.Tensor, fs: int, mode: bool | str) -> tuple[float, torch.Tensor]:
    bank = erb_bank(2**15 if fs > 30000 else 2**14, fs, 16)
    best, y = float("inf"), None
    for _ in range(2):
        start = time.perf_counter()
        y = texenv_resynthesize(x, bank, 256, generator=torch.Generator().manual_seed(0), transients=mode)
        best = min(best, time.perf_counter() - start)
    return len(x) / fs / best, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s per recording instead of 30")
    parser.add_argument("--render", action="store_true", help="only rewrite the Markdown table from the JSON")
    args = parser.parse_args()
    if args.render:
        name = "resynthesis_quick" if args.quick else "resynthesis"
        write_table(json.loads((RESULTS / f"{name}.json").read_text()), RESULTS / f"{name}.md")
        return
    torch.set_num_threads(1)
    seconds = 10.0 if args.quick else 30.0
    rows = []
    for name in ("water.flac", "train.ogg", "amazon-rainforest.ogg"):
        if not (RECORDINGS / name).exists():
            continue
        x, fs = sf.read(RECORDINGS / name, dtype="float32", always_2d=True)
        x = torch.from_numpy(x.mean(1)[: int(seconds * fs)].copy())
        measure = TexStat.for_bank(erb_bank(2**15 if fs > 30000 else 2**14, fs, 16))
        for mode in MODES:
            with legacy_resynthesis():
                before, y_before = _rtf(x, fs, mode)
            with previous_numerics():
                previous, y_previous = _rtf(x, fs, mode)
            after, y_after = _rtf(x, fs, mode)
            texstat = frame_distances(measure, x, [y_before, y_previous, y_after])
            rows.append({"recording": name, "seconds": len(x) / fs, "transients": str(mode),
                         "rtf_before": before, "rtf_previous": previous, "rtf_after": after,
                         "texstat_before": texstat[0], "texstat_previous": texstat[1], "texstat_after": texstat[2]})
            print(rows[-1], flush=True)
    suffix = "_quick" if args.quick else ""
    data = {"machine": machine(), "seconds": seconds, "rows": rows}
    (RESULTS / f"resynthesis{suffix}.json").write_text(json.dumps(data, indent=1))
    write_table(data, RESULTS / f"resynthesis{suffix}.md")


LABELS = {"False": "none", "auto": "auto (default)"}


def write_table(data: dict, path: Path) -> None:
    """The Markdown table of a run's JSON (``python -m benchmarks.bench_resynthesis --render`` redoes it)."""
    lines = [f"# DSP resynthesis speed (one thread, {data['seconds']:g} s per recording)", "",
             f"Machine: {data['machine']}", "",
             "| recording | transients | RTF before | RTF previous | RTF after | speed-up | previous → after "
             "| frame TexStat to the input, before → after |",
             "|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        previous = f"{r['rtf_previous']:.1f}×" if "rtf_previous" in r else "–"
        ratio = f"{r['rtf_after'] / r['rtf_previous']:.2f}×" if "rtf_previous" in r else "–"
        lines.append(f"| {r['recording']} | {LABELS.get(r['transients'], r['transients'])} | {r['rtf_before']:.1f}× | "
                     f"{previous} | {r['rtf_after']:.1f}× | {r['rtf_after'] / r['rtf_before']:.2f}× | {ratio} | "
                     f"{r['texstat_before']:.2f} → {r['texstat_after']:.2f} |")
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

if __name__ == "__main__":
    main()
