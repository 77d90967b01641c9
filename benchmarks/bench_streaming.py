"""Streaming speed on one thread: the shipped configs' models streamed at their sample rates, block by block,
through the library (:class:`ddsp_textures.inference.streaming.TextureStream`) and the exported TorchScript file, beside
offline ``generate`` of the same length (the "before": audio only as one whole render).  The DSP resynthesis's
speed is ``python -m benchmarks.bench_resynthesis``.

    python -m benchmarks.bench_streaming [--quick]

Real-time factor (RTF) = seconds of audio per second of compute.  "worst block" = the slowest block's compute
time as a share of its own duration (a live host needs it well under 100 %; the target is 25 %), after a
warm-up pass and leaving out the first block after ``reset``, which renders the first frame whole ("start-up").
"offline generate" includes the analysis of the 20-s reference (its clicks and feature trajectory).  Models are
untrained (built from the configs): speed does not depend on the weights; a bed gets an equaliser, as training
sets one.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ddsp_textures.inference.export import export_stream
from ddsp_textures.inference.generation import generate
from ddsp_textures.inference.streaming import TextureStream
from ddsp_textures.textures import make_texture
from ddsp_textures.training.builders import build_model
from ddsp_textures.training.config import parse_config

from .common import RESULTS, machine

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
BLOCKS = (512, 2048, 8192)


def _models() -> list[tuple[str, object, np.ndarray]]:
    """The shipped configs (the main job's P-VAE at 44.1 kHz; pvae_raindrops ships at 22.05 kHz: measured at both),
    and the main job's recipe as a TexDSP (as it shipped before) and as a hybrid."""
    out = []
    texenv = {"param_per_env": 128}
    for name, overrides, texture in (("quick_fire", {"architecture": "TexDSP", **texenv,
                                                     "features_list": ["energy_bands", "centroid", "rate"]}, "fire"),
                                     ("quick_fire", {}, "fire"), ("pvae_raindrops", {}, "raindrops"),
                                     ("pvae_raindrops", {"sampling_rate": 44100}, "raindrops"),
                                     ("quick_fire", {"architecture": "HYBRID", **texenv}, "fire")):
        raw = json.loads((CONFIGS / f"{name}.json").read_text())
        cfg = parse_config({**raw, **overrides}, CONFIGS)
        model = build_model(cfg).eval()
        if hasattr(model, "set_bed_eq"):     # a trained bed is equalised (calibrate_bed_eq): one more filter a frame
            model.set_bed_eq(torch.linspace(1.5, 0.5, model.frame_size // 2 + 1))
        label = f"{name} ({cfg.architecture if cfg.has_events else 'TexDSP'})"
        out.append((label, model, make_texture(texture, 20.0, cfg.sampling_rate, seed=1)))
    return out


def _stream(stream, block: int, total: int, fs: int) -> dict[str, float]:  # noqa: ANN001
    """Time every ``stream.read(block)`` after a warm-up pass; the first block after ``reset`` (it renders the
    first frame whole) is reported apart as the start-up."""
    for _ in range(2):
        stream.reset(0)
        times, done = [], 0
        while done < total:
            start = time.perf_counter()
            stream.read(block)
            times.append(time.perf_counter() - start)
            done += block
    steady = times[1:]
    return {"rtf": done / fs / sum(times), "worst_block": max(steady) / (block / fs),
            "median_block": float(np.median(steady)) / (block / fs), "startup_ms": 1000 * times[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s per measurement instead of 30")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seconds = 10.0 if args.quick else 30.0
    rows = []
    for name, model, reference in _models():
        fs = int(model.fs)
        total = int(seconds * fs)
        start = time.perf_counter()
        generate(model, seconds, reference, seed=0)
        offline = seconds / (time.perf_counter() - start)
        stream = TextureStream(model, reference, seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_stream(model, reference, Path(tmp) / "m.ts")
            exported = torch.jit.load(str(path))
        for block in BLOCKS:
            row = {"model": name, "fs": fs, "frame_size": model.frame_size, "block": block,
                   "offline_rtf": offline, "latency_ms": 1000 * stream.latency / fs,
                   "library": _stream(stream, block, total, fs)}
            row["export"] = _stream(exported, block, total, fs)
            rows.append(row)
            print(row, flush=True)
    suffix = "_quick" if args.quick else ""
    (RESULTS / f"streaming{suffix}.json").write_text(json.dumps({"machine": machine(), "seconds": seconds,
                                                                  "rows": rows}, indent=1))
    lines = [f"# Streaming speed (one thread, {seconds:g} s per measurement)", "",
             f"Machine: {machine()}", "",
             "| model | fs | block | latency (ms) | offline generate RTF (before) | library RTF | library worst block "
             "| export RTF | export worst block | start-up (ms) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = r.get("export")
        lines.append(f"| {r['model']} | {r['fs']} | {r['block']} | {r['latency_ms']:.0f} | {r['offline_rtf']:.1f}× "
                     f"| {r['library']['rtf']:.1f}× | {100 * r['library']['worst_block']:.0f} % | "
                     + (f"{e['rtf']:.1f}× | {100 * e['worst_block']:.0f} % |" if e else "– | – |")
                     + f" {r['library']['startup_ms']:.0f} |")
    (RESULTS / f"streaming{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
