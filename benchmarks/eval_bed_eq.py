"""The bed's typical level: the model's bed equalised half way (in dB) to the mean log spectrum of the audio it
stands for (issue 29: log-mel FD), before and after in one run.

    python -m benchmarks.eval_bed_eq [--quick] [--textures NAME ...] [--architectures TexDSP HYBRID]

A TexEnv bed fills a recording's spectral valleys and empty octaves with noise (the fire's 400–1000 Hz, the
octave above applause's 8-kHz edge), and matching its long-term power spectrum does not help, as its puffs carry
the power.  The trainer now equalises the bed after training in the log domain
(:func:`~ddsp_textures.models.calibration.calibrate_bed_eq`), then calibrates the placed layer's gain over the
equalised bed.  For each texture of ``eval_generation`` (first half trains and is the reference, second half is
the floor) and each model with a bed, the generation of the model with a flat bed and its layer gain calibrated
for it ("before") and as trained ("after") are scored with the yardstick, held out too.  Writes
``results/bed_eq[_quick].{json,md}``, and spectrograms side by side (original, each model's generation before and
after; textures where every model was equalised) in ``results/bed_eq[_quick].png``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from benchmarks.eval_generation import FS, held_out_scorer, trained
from benchmarks.eval_layer_gain import before_after_row, cell, distances_moved, run
from ddsp_textures.inference.generation import generate, reference_layer
from ddsp_textures.models.calibration import calibrate_layer_gain


def evaluate(name: str, first: np.ndarray, second: np.ndarray, architectures: list[str], epochs: int,
             workdir: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    score = held_out_scorer(first, second)
    rows, signals = [], {"original": first}
    for arch, model in trained(name, first, architectures, epochs, workdir):
        layer = reference_layer(model, "default", first) or "none"
        eq, gain = model.bed_eq.clone(), float(model.layer_gain)
        eq_db = 20 * torch.log10(eq)
        scored, gains = {}, {}
        for label in ("before", "after"):
            if label == "before":
                model.set_bed_eq(None)
                calibrate_layer_gain(model, first)
            else:
                model.set_bed_eq(eq)
                model.layer_gain.fill_(gain)
            gains[label] = 20 * math.log10(float(model.layer_gain))
            if label == "after" and bool((eq == 1.0).all()):
                scored[label] = scored["before"]
                continue
            y = generate(model, len(second) / FS, first, seed=0)
            scored[label] = score(y)
            signals[f"{arch}, {'flat bed' if label == 'before' else 'equalised'}"] = y
        before, after = scored["before"], scored["after"]
        rows.append(before_after_row(name, arch, layer, before, after, eq_low_db=float(eq_db.min()),
                                     eq_high_db=float(eq_db.max()), gain_before_db=gains["before"],
                                     gain_after_db=gains["after"]))
        print(f"{name} {arch}: layer {layer}, equaliser {float(eq_db.min()):+.1f} to {float(eq_db.max()):+.1f} dB, "
              f"layer gain {gains['before']:+.1f} -> {gains['after']:+.1f} dB; {distances_moved(before, after)}",
              flush=True)
    return rows, signals


def summary(rows: list[dict]) -> list[str]:
    lines = ["| texture | model | layer | equaliser | layer gain | log-mel FD ÷ floor (held out) | KAD ÷ floor "
             "(held out) | onsets/s (original) | peak/median (original) | periodicity (original) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        eq = "none" if r["eq_low_db"] == r["eq_high_db"] == 0 else f"{r['eq_low_db']:+.1f} to {r['eq_high_db']:+.1f} dB"
        if r.get("swung"):                                  # eval_bed_swing: the swinging bins all the way
            eq += ", swinging bins all the way"
        gain = (f"{r['gain_before_db']:+.1f} dB" if r["gain_before_db"] == r["gain_after_db"]
                else f"{r['gain_before_db']:+.1f} → {r['gain_after_db']:+.1f} dB")
        lines.append(f"| {r['texture']} | {r['architecture']} | {r['layer']} | {eq} | {gain} | "
                     f"{cell(r, 'mel_fd_ratio')} ({cell(r, 'heldout_mel_fd_ratio')}) | {cell(r, 'kad_ratio')} "
                     f"({cell(r, 'heldout_kad_ratio')}) | {cell(r, 'onset_rate')} ({r['reference_rate']:.3g}) | "
                     f"{cell(r, 'peak_to_median')} ({r['reference_peak_to_median']:.3g}) | "
                     f"{cell(r, 'periodicity')} ({r['reference_periodicity']:.2f}) |")
    return lines


def main() -> None:
    columns = [("texture", "texture"), ("architecture", "model"), ("layer", "layer placed"),
               ("eq_low_db", "EQ min dB"), ("eq_high_db", "EQ max dB"), ("gain_before_db", "gain before dB"),
               ("gain_after_db", "gain after dB"),
               ("reference_rate", "original onsets/s"), ("reference_peak_to_median", "original peak/median")]
    run(__doc__, "bed_eq", "The bed's typical level, equalised in the log domain", evaluate, columns,
        "'before' is the model with a flat bed and its layer gain calibrated for it, 'after' as trained "
        "(equalised, the gain calibrated over the equalised bed).", summary)


if __name__ == "__main__":
    main()
