"""The bed's lines spread where it pulses alone (issue 29: "no periodic pulse the recording lacks"), before and
after in one run.

    python -m benchmarks.eval_bed_spread [--quick] [--textures NAME ...] [--architectures TexDSP HYBRID]

A TexDSP's or hybrid's bed decodes nearly the same envelope in every frame, whose power sits in a few Fourier lines,
so it pulses at 65–115 ms (``eval_envelope_flutter``).  Spreading the lines everywhere took the pulse away but cost
log-mel distance where nothing needed it.  The trainer now calibrates a spread after training
(:func:`~ddsp_textures.models.calibration.calibrate_line_spread`): none where generation places a layer over the
bed or where the bed does not pulse more than the training audio + 0.05, else the narrowest that brings it there
(where none does, the least pulsing, if it gets halfway).
For each texture of ``eval_generation`` (first half trains and is the reference, second half is the floor) and
each model with a bed, the generation of the model as trained ("before": lines as decoded) and as calibrated
("after") are scored with the yardstick, held out too.  Writes ``results/bed_spread[_quick].{json,md}``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.common import add_summary, write_results
from benchmarks.eval_generation import FS, bed_arguments, evaluate_textures, held_out_scorer, trained
from ddsp_textures.inference.generation import generate, reference_layer
from ddsp_textures.models.calibration import bed_periodicity


def evaluate(name: str, first: np.ndarray, second: np.ndarray, architectures: list[str], epochs: int,
             workdir: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    score = held_out_scorer(first, second)
    rows = []
    for arch, model in trained(name, first, architectures, epochs, workdir):
        calibrated = float(model.line_spread)
        layer = reference_layer(model, "default", first) or "none"
        scored = {}
        for label, ratio in (("before", 1.0), ("after", calibrated)):
            model.set_line_spread(ratio)
            scored[label] = scored["before"] if label == "after" and ratio == 1.0 else {
                **score(generate(model, len(second) / FS, first, seed=0)), "bed": bed_periodicity(model, first)}
        before, after = scored["before"], scored["after"]
        rows.append({"texture": name, "architecture": arch, "layer": layer, "ratio": calibrated,
                     "bed_before": before["bed"], "bed_after": after["bed"],
                     **{f"{k}_before": before[k] for k in ("mel_fd_ratio", "heldout_mel_fd_ratio", "kad_ratio",
                                                           "heldout_kad_ratio", "periodicity", "spread")},
                     **{f"{k}_after": after[k] for k in ("mel_fd_ratio", "heldout_mel_fd_ratio", "kad_ratio",
                                                          "heldout_kad_ratio", "periodicity", "spread")},
                     "reference_periodicity": after["reference_periodicity"]})
        print(f"{name} {arch}: layer {layer}, spread x{calibrated:g}, bed {before['bed']:.2f} -> "
              f"{after['bed']:.2f}; generation periodicity {before['periodicity']:.2f} -> "
              f"{after['periodicity']:.2f} (original {after['reference_periodicity']:.2f}), log-mel FD "
              f"x{before['mel_fd_ratio']:.2f} -> x{after['mel_fd_ratio']:.2f}, KAD x{before['kad_ratio']:.2f} -> "
              f"x{after['kad_ratio']:.2f}", flush=True)
    return rows, {}


def _pair(row: dict, key: str) -> str:
    a, b = row[f"{key}_before"], row[f"{key}_after"]
    return f"{a:.2f}" if a == b else f"{a:.2f} → **{b:.2f}**"


def summary(rows: list[dict]) -> list[str]:
    lines = ["| texture | model | layer | spread | bed's periodicity (resynthesis) | generation: periodicity "
             "(original) | log-mel FD ÷ floor (held out) | KAD ÷ floor (held out) | frame spread |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        spread = "none" if r["ratio"] <= 1 else f"×{r['ratio']:g}"
        lines.append(f"| {r['texture']} | {r['architecture']} | {r['layer']} | {spread} | "
                     f"{r['bed_before']:.2f} → {r['bed_after']:.2f} | {_pair(r, 'periodicity')} "
                     f"({r['reference_periodicity']:.2f}) | {_pair(r, 'mel_fd_ratio')} "
                     f"({_pair(r, 'heldout_mel_fd_ratio')}) | {_pair(r, 'kad_ratio')} "
                     f"({_pair(r, 'heldout_kad_ratio')}) | {_pair(r, 'spread')} |")
    return lines


def main() -> None:
    args = bed_arguments(__doc__.splitlines()[0])
    start = time.perf_counter()
    rows, _ = evaluate_textures(evaluate, args.quick, args.textures, args.architectures, 8 if args.quick else 25)
    keys = ("periodicity", "mel_fd_ratio", "heldout_mel_fd_ratio", "kad_ratio", "heldout_kad_ratio", "spread")
    columns = [("texture", "texture"), ("architecture", "model"), ("layer", "layer placed"), ("ratio", "spread"),
               ("bed_before", "bed before"), ("bed_after", "bed after"), ("reference_periodicity", "original")]
    columns += [(f"{k}_{when}", f"{k} {when}") for k in keys for when in ("before", "after")]
    notes = (f"{'20' if args.quick else '40'}-s halves, eval_generation's recipe; generation of the second half's "
             f"length from the first, seed 0; 'before' is the model with its lines as decoded, 'after' as "
             f"calibrated. {time.perf_counter() - start:.0f} s.")
    path = write_results("bed_spread" + ("_quick" if args.quick else ""),
                         "The bed's lines spread where it pulses alone", rows, columns, notes)
    add_summary(path, summary(rows))


if __name__ == "__main__":
    main()
