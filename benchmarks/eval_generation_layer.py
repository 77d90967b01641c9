"""Which transient layer a generation should place (issue 29): ``python -m benchmarks.eval_generation_layer
[--quick] [--architectures HYBRID TexDSP]``.

A TexDSP or hybrid generation places the reference's events anew over the model's bed.  Until this script,
that layer was always the ``"clicks"`` detector's; now it is the one the DSP resynthesis of the reference keeps
(``transients="auto"``, :func:`ddsp_textures.synths.analysis.transient_choice`), or none.  For each texture of
``eval_generation`` (first half trains and is the reference, second half is the floor), one model per
architecture generates the second half's length with no layer, each detector's, the previous default
(``"clicks"``: *before*) and the default now (*after*), in one run; each is scored with the yardstick as
``eval_generation`` scores it.  Writes ``results/generation_layer[_quick].{json,md}`` (``--name``: another name) and
a PNG of spectrograms: the original, then each architecture's generation before and after.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, add_summary, write_results
from benchmarks.eval_generation import FS, draw, evaluate_textures, held_out_scorer, trained
from ddsp_textures.inference.generation import generate, reference_layer

LAYERS = {"no layer": None, "clicks (before)": "clicks", "knocks": "knocks", "default (after)": "default"}


def evaluate(name: str, first: np.ndarray, second: np.ndarray, architectures: list[str], epochs: int,
             workdir: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    """One row per architecture and layer of one texture, and the signals to draw."""
    score = held_out_scorer(first, second)
    rows, signals = [], {"original": first}
    for arch, model in trained(name, first, architectures, epochs, workdir):
        start = time.perf_counter()
        choice = reference_layer(model, "default", first)
        print(f"{name} {arch}: the reference's layer is {choice} ({time.perf_counter() - start:.1f} s)", flush=True)
        for label, layer in LAYERS.items():
            y = generate(model, len(second) / FS, first, transients=layer)
            if label != "no layer" and label != "knocks":
                signals[f"{arch} {label}"] = y
            row = score(y)
            rows.append({"texture": name, "architecture": arch, "layer": label, "choice": choice or "none", **row})
            print(f"  {label}: log-mel FD x{row['mel_fd_ratio']:.2f}, KAD x{row['kad_ratio']:.2f}, onsets "
                  f"{row['onset_rate']:.2f}/{row['reference_rate']:.2f}", flush=True)
    return rows, signals


def digest(rows: list[dict]) -> list[str]:
    """Before (clicks) → after (the default) per texture and architecture, with each layer's log-mel FD."""
    lines = ["| texture | model | layer kept | log-mel FD ÷ floor: none / clicks / knocks | before → after | "
             "KAD ÷ floor, before → after | onsets/s before → after (original) |", "|---|---|---|---|---|---|---|"]
    index = {(r["texture"], r["architecture"], r["layer"]): r for r in rows}
    for texture, arch in dict.fromkeys((r["texture"], r["architecture"]) for r in rows):
        none, clicks, knocks, after = (index[(texture, arch, label)] for label in LAYERS)
        lines.append(f"| {texture} | {arch} | {after['choice']} | "
                     f"{none['mel_fd_ratio']:.3g} / {clicks['mel_fd_ratio']:.3g} / {knocks['mel_fd_ratio']:.3g} | "
                     f"{clicks['mel_fd_ratio']:.3g} → **{after['mel_fd_ratio']:.3g}** | {clicks['kad_ratio']:.3g} → "
                     f"{after['kad_ratio']:.3g} | {clicks['onset_rate']:.2f} → {after['onset_rate']:.2f} "
                     f"({after['reference_rate']:.2f}) |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20-s halves, 8 epochs")
    parser.add_argument("--architectures", nargs="+", default=["HYBRID", "TexDSP"], choices=["HYBRID", "TexDSP"])
    parser.add_argument("--textures", nargs="+", default=None, help="a subset of the textures")
    parser.add_argument("--name", default=None, help="results file name (default: generation_layer[_quick])")
    args = parser.parse_args()
    rows, signals = evaluate_textures(evaluate, args.quick, args.textures, args.architectures,
                                      8 if args.quick else 25)
    name = args.name or f"generation_layer{'_quick' if args.quick else ''}"
    draw(signals, RESULTS / f"{name}.png")
    columns = [("texture", "texture"), ("architecture", "model"), ("layer", "layer"), ("choice", "layer kept"),
               ("kad_ratio", "KAD ÷ floor"), ("mel_fd_ratio", "log-mel FD ÷ floor"),
               ("heldout_kad_ratio", "held-out KAD ÷ floor"), ("heldout_mel_fd_ratio", "held-out log-mel FD ÷ floor"),
               ("spread", "frame spread"), ("onset_rate", "onsets/s"), ("reference_rate", "original onsets/s"),
               ("periodicity", "periodicity"), ("targets_met", "targets met")]
    notes = ("Generation of the second half's length from a model trained on the first half (eval_generation's "
             "recipe), with no layer, each detector's, the previous default (clicks) and the default now (the "
             "layer the DSP resynthesis of the reference keeps: 'layer kept'). Ratios to the floor as in "
             "eval_generation.")
    path = write_results(name, "Which transient layer generation places", rows, columns,
                         notes + f" Spectrograms: `{name}.png`.")
    add_summary(path, digest(rows))


if __name__ == "__main__":
    main()
