"""The placed layer raised over the bed until it stands out as in the recording (issue 29: event rate, log-mel
FD), before and after in one run.

    python -m benchmarks.eval_layer_gain [--quick] [--textures NAME ...] [--architectures TexDSP HYBRID]

Generation from a reference places the reference's own events (its transient layer) over the model's bed.  The
bed, trained on the whole recording, events included, is steadier and brighter than the residual the events were
cut from, and fewer of them stand out: applause's generation had 0.05 onsets/s against the recording's 0.55.
The trainer now calibrates the layer's gain after training
(:func:`~ddsp_textures.models.calibration.calibrate_layer_gain`): where a layer is placed, the smallest gain, at
most 6 dB, at which the model's bed of the training audio's residual plus the layer reaches the audio's upper-band
peak-to-median or onset rate.  For each texture of ``eval_generation`` (first half trains and is the reference,
second half is the floor) and each model with a bed, the generation of the model with its layer as recorded
("before": 0 dB) and as calibrated ("after") are scored with the yardstick, held out too.  Writes
``results/layer_gain[_quick].{json,md}``, and spectrograms side by side (original, each model's generation before and
after; textures where every model's layer was raised) in ``results/layer_gain[_quick].png``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, add_summary, write_results
from benchmarks.eval_generation import (
    FS,
    Evaluate,
    bed_arguments,
    draw,
    evaluate_textures,
    held_out_scorer,
    trained,
)
from ddsp_textures.inference.generation import generate, reference_layer

KEYS = ("onset_rate", "peak_to_median", "mel_fd_ratio", "heldout_mel_fd_ratio", "kad_ratio", "heldout_kad_ratio",
        "periodicity")


def evaluate(name: str, first: np.ndarray, second: np.ndarray, architectures: list[str], epochs: int,
             workdir: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    score = held_out_scorer(first, second)
    rows, signals = [], {"original": first}
    for arch, model in trained(name, first, architectures, epochs, workdir):
        gain_db = 20 * math.log10(float(model.layer_gain))
        layer = reference_layer(model, "default", first) or "none"
        scored = {}
        for label, db in (("before", 0.0), ("after", gain_db)):
            model.set_layer_gain(db)
            if label == "after" and db == 0.0:
                scored[label] = scored["before"]
                continue
            y = generate(model, len(second) / FS, first, seed=0)
            scored[label] = score(y)
            signals[f"{arch}, {'as recorded' if label == 'before' else 'calibrated'}"] = y
        before, after = scored["before"], scored["after"]
        rows.append(before_after_row(name, arch, layer, before, after, gain_db=gain_db))
        print(f"{name} {arch}: layer {layer}, gain {gain_db:+.1f} dB; onsets {before['onset_rate']:.2f} -> "
              f"{after['onset_rate']:.2f}/s (original {after['reference_rate']:.2f}), peak/median "
              f"{before['peak_to_median']:.2f} -> {after['peak_to_median']:.2f} "
              f"({after['reference_peak_to_median']:.2f}), log-mel FD x{before['mel_fd_ratio']:.2f} -> "
              f"x{after['mel_fd_ratio']:.2f}, KAD x{before['kad_ratio']:.2f} -> x{after['kad_ratio']:.2f}",
              flush=True)
    return rows, signals


def before_after_row(texture: str, architecture: str, layer: str, before: dict, after: dict, **extra: object
                     ) -> dict:
    """A before/after benchmark's row: the model, ``extra`` columns, the yardstick's :data:`KEYS` before and
    after, and the reference's event statistics."""
    return {"texture": texture, "architecture": architecture, "layer": layer, **extra,
            **{f"{k}_before": before[k] for k in KEYS}, **{f"{k}_after": after[k] for k in KEYS},
            "reference_rate": after["reference_rate"], "reference_peak_to_median": after["reference_peak_to_median"],
            "reference_periodicity": after["reference_periodicity"]}


def distances_moved(before: dict, after: dict) -> str:
    """One line of what moved: log-mel FD (held out too), KAD and onsets, before -> after."""
    return (f"log-mel FD x{before['mel_fd_ratio']:.2f} -> x{after['mel_fd_ratio']:.2f} (held out "
            f"x{before['heldout_mel_fd_ratio']:.2f} -> x{after['heldout_mel_fd_ratio']:.2f}), KAD "
            f"x{before['kad_ratio']:.2f} -> x{after['kad_ratio']:.2f}, onsets {before['onset_rate']:.2f} -> "
            f"{after['onset_rate']:.2f}/s (original {after['reference_rate']:.2f})")


def run(doc: str, stem: str, title: str, evaluate: Evaluate, columns: list[tuple[str, str]], notes: str,
        summary: Callable[[list[dict]], list[str]]) -> None:
    """The main of a before/after benchmark of the trained beds (``eval_layer_gain``, ``eval_bed_eq``,
    ``eval_bed_swing``): its command line, :func:`~benchmarks.eval_generation.evaluate_textures` with
    ``evaluate``, the spectrograms (:func:`draw_every_model`), and ``results/STEM[_quick]`` with ``columns``
    followed by :data:`KEYS` before and after, ``notes`` after the recipe, and ``summary``."""
    args = bed_arguments(doc.splitlines()[0])
    start = time.perf_counter()
    rows, signals = evaluate_textures(evaluate, args.quick, args.textures, args.architectures, 8 if args.quick else 25)
    name = stem + ("_quick" if args.quick else "")
    draw_every_model(signals, len(args.architectures), name)
    columns = columns + [(f"{k}_{when}", f"{k} {when}") for k in KEYS for when in ("before", "after")]
    notes = (f"{'20' if args.quick else '40'}-s halves, eval_generation's recipe; generation of the second half's "
             f"length from the first, seed 0; {notes} {time.perf_counter() - start:.0f} s.")
    path = write_results(name, title, rows, columns, notes)
    add_summary(path, summary(rows))


def cell(row: dict, key: str) -> str:
    """A summary cell: ``row[key_before]``, and ``→ row[key_after]`` in bold where it moved."""
    a, b = row[f"{key}_before"], row[f"{key}_after"]
    return f"{a:.3g}" if a == b or (math.isnan(a) and math.isnan(b)) else f"{a:.3g} → **{b:.3g}**"


def summary(rows: list[dict]) -> list[str]:
    lines = ["| texture | model | layer | gain | onsets/s (original) | peak/median (original) | periodicity "
             "(original) | log-mel FD ÷ floor (held out) | KAD ÷ floor (held out) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gain = "none" if r["gain_db"] == 0 else f"{r['gain_db']:+.1f} dB"
        lines.append(f"| {r['texture']} | {r['architecture']} | {r['layer']} | {gain} | "
                     f"{cell(r, 'onset_rate')} ({r['reference_rate']:.3g}) | {cell(r, 'peak_to_median')} "
                     f"({r['reference_peak_to_median']:.3g}) | {cell(r, 'periodicity')} "
                     f"({r['reference_periodicity']:.2f}) | {cell(r, 'mel_fd_ratio')} "
                     f"({cell(r, 'heldout_mel_fd_ratio')}) | {cell(r, 'kad_ratio')} "
                     f"({cell(r, 'heldout_kad_ratio')}) |")
    return lines


def draw_every_model(signals: dict[str, dict[str, np.ndarray]], models: int, name: str) -> None:
    """Spectrograms (``results/NAME.png``) of the textures where every one of ``models`` models was changed: the
    original, then each model's before and after."""
    changed = {t: s for t, s in signals.items() if len(s) == 1 + 2 * models}
    if changed:
        draw(changed, RESULTS / f"{name}.png")


def main() -> None:
    columns = [("texture", "texture"), ("architecture", "model"), ("layer", "layer placed"), ("gain_db", "gain dB"),
               ("reference_rate", "original onsets/s"), ("reference_peak_to_median", "original peak/median")]
    run(__doc__, "layer_gain", "The placed layer, as prominent as the recording's", evaluate, columns,
        "'before' is the model with its layer as recorded (0 dB), 'after' as calibrated.", summary)


if __name__ == "__main__":
    main()
