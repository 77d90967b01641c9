"""The bed's equaliser all the way where the audio's level swings between near-silence and events, half way
elsewhere, against half way everywhere (issue 29: log-mel FD), before and after in one run.

    python -m benchmarks.eval_bed_swing [--quick] [--textures NAME ...] [--architectures TexDSP HYBRID]

On procedural applause and fire, bands of the residual a bed stands for spend most frames near-silent and the
rest loud (the octave above applause's 8-kHz edge, the fire's 700–1350 Hz valley: a spread of the log power of
11–23 dB, against 5.6 dB for steady noise), where the bed is steady noise.  The trainer now equalises those bins
all the way to the audio's mean log spectrum, if that brings the bed closer in log-mel Fréchet distance than half
way (:func:`~ddsp_textures.models.calibration.calibrate_bed_eq`).  For each texture of ``eval_generation`` and
each model with a bed, the model is calibrated again on the first half both ways — half way everywhere
("before"), and as the trainer now does ("after"), the layer's gain calibrated over each —, and its generations
are scored with the yardstick, held out too.  Writes
``results/bed_swing[_quick].{json,md}`` and spectrograms side by side in ``results/bed_swing[_quick].png``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from benchmarks.eval_bed_eq import summary
from benchmarks.eval_generation import FS, held_out_scorer, trained
from benchmarks.eval_layer_gain import before_after_row, distances_moved, run
from ddsp_textures.inference.generation import generate, reference_layer
from ddsp_textures.models.calibration import calibrate_bed_eq, calibrate_layer_gain
from ddsp_textures.synths.bed_equalizer import SWING_DB


def evaluate(name: str, first: np.ndarray, second: np.ndarray, architectures: list[str], epochs: int,
             workdir: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    score = held_out_scorer(first, second)
    rows, signals = [], {"original": first}
    for arch, model in trained(name, first, architectures, epochs, workdir):
        layer = reference_layer(model, "default", first) or "none"
        scored, gains, eqs, reports = {}, {}, {}, {}
        for label, swing in (("before", None), ("after", SWING_DB)):
            reports[label] = calibrate_bed_eq(model, first, swing_db=swing) or ""
            calibrate_layer_gain(model, first)
            gains[label] = 20 * math.log10(float(model.layer_gain))
            eqs[label] = model.bed_eq.clone()
            if label == "after" and torch.equal(eqs["after"], eqs["before"]):
                scored[label] = scored["before"]
                continue
            y = generate(model, len(second) / FS, first, seed=0)
            scored[label] = score(y)
            signals[f"{arch}, {'half way' if label == 'before' else 'swinging bins all the way'}"] = y
        swung = "swings" in reports["after"]
        eq_db = 20 * torch.log10(eqs["after"])
        before, after = scored["before"], scored["after"]
        rows.append(before_after_row(name, arch, layer, before, after, eq_low_db=float(eq_db.min()),
                                     eq_high_db=float(eq_db.max()), swung=swung, gain_before_db=gains["before"],
                                     gain_after_db=gains["after"]))
        print(f"{name} {arch}: layer {layer}, swinging bins all the way: {swung}; {distances_moved(before, after)}",
              flush=True)
    return rows, signals


def main() -> None:
    columns = [("texture", "texture"), ("architecture", "model"), ("layer", "layer placed"),
               ("swung", "swinging bins all the way"), ("eq_low_db", "EQ min dB"), ("eq_high_db", "EQ max dB"),
               ("gain_before_db", "gain before dB"), ("gain_after_db", "gain after dB"),
               ("reference_rate", "original onsets/s"), ("reference_peak_to_median", "original peak/median")]
    run(__doc__, "bed_swing", "The bed's equaliser where the audio's level swings", evaluate, columns,
        "the trained model calibrated again on the first half: 'before' its bed equalised half way everywhere, "
        "'after' as the trainer now does (the swinging bins all the way where that brings the bed closer), the "
        "layer gain calibrated over each.", summary)


if __name__ == "__main__":
    main()
