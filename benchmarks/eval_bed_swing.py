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
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import add_summary, write_results
from benchmarks.eval_bed_eq import summary
from benchmarks.eval_generation import FS, bed_arguments, evaluate_textures, held_out_scorer, trained
from benchmarks.eval_layer_gain import KEYS, draw_every_model
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
        rows.append({"texture": name, "architecture": arch, "layer": layer,
                     "eq_low_db": float(eq_db.min()), "eq_high_db": float(eq_db.max()),
                     "swung": swung, "gain_before_db": gains["before"],
                     "gain_after_db": gains["after"],
                     **{f"{k}_before": before[k] for k in KEYS}, **{f"{k}_after": after[k] for k in KEYS},
                     "reference_rate": after["reference_rate"],
                     "reference_peak_to_median": after["reference_peak_to_median"],
                     "reference_periodicity": after["reference_periodicity"]})
        print(f"{name} {arch}: layer {layer}, swinging bins all the way: {rows[-1]['swung']}; log-mel FD "
              f"x{before['mel_fd_ratio']:.2f} -> x{after['mel_fd_ratio']:.2f} (held out "
              f"x{before['heldout_mel_fd_ratio']:.2f} -> x{after['heldout_mel_fd_ratio']:.2f}), KAD "
              f"x{before['kad_ratio']:.2f} -> x{after['kad_ratio']:.2f}, onsets {before['onset_rate']:.2f} -> "
              f"{after['onset_rate']:.2f}/s (original {after['reference_rate']:.2f})", flush=True)
    return rows, signals


def main() -> None:
    args = bed_arguments(__doc__.splitlines()[0])
    start = time.perf_counter()
    rows, signals = evaluate_textures(evaluate, args.quick, args.textures, args.architectures, 8 if args.quick else 25)
    name = "bed_swing" + ("_quick" if args.quick else "")
    draw_every_model(signals, len(args.architectures), name)
    columns = [("texture", "texture"), ("architecture", "model"), ("layer", "layer placed"),
               ("swung", "swinging bins all the way"), ("eq_low_db", "EQ min dB"), ("eq_high_db", "EQ max dB"),
               ("gain_before_db", "gain before dB"), ("gain_after_db", "gain after dB"),
               ("reference_rate", "original onsets/s"), ("reference_peak_to_median", "original peak/median")]
    columns += [(f"{k}_{when}", f"{k} {when}") for k in KEYS for when in ("before", "after")]
    notes = (f"{'20' if args.quick else '40'}-s halves, eval_generation's recipe; generation of the second half's "
             f"length from the first, seed 0; the trained model calibrated again on the first half: 'before' its "
             f"bed equalised half way everywhere, 'after' as the trainer now does (the swinging bins all the way "
             f"where that brings the bed closer), the layer gain calibrated over each. "
             f"{time.perf_counter() - start:.0f} s.")
    path = write_results(name, "The bed's equaliser where the audio's level swings", rows, columns, notes)
    add_summary(path, summary(rows))


if __name__ == "__main__":
    main()
