"""Should a model's generation choose its transient layer with the model's own bed instead of the DSP's? (issue 29:
the rainforest's TexDSP generation lost its layer with the DSP chooser and its bed's flutter came back.)

    python -m benchmarks.eval_layer_by_model [--quick] [--textures NAME ...]

For each texture of ``eval_generation`` (first half trains and is the reference, second half is the floor) and
each model with a TexEnv bed (TexDSP, hybrid), two choices of the layer a generation places:

* *the DSP chooser* (generation's default): the layer that the DSP resynthesis of the reference keeps
  (:func:`~ddsp_textures.inference.generation.reference_layer`);
* *the model's chooser*: the layer that the **model's** resynthesis of the reference keeps
  (``resynthesize(model, reference, transients="auto")``, the same chooser over the model's bed), found by
  comparing its output with each layer's resynthesis.

Each choice's generation (the second half's length) is scored with the yardstick as ``eval_generation`` scores
it.  Writes ``results/layer_by_model[_quick].{json,md}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.common import write_results
from benchmarks.eval_generation import FS, evaluate_textures, held_out_scorer, trained
from ddsp_textures.inference.generation import generate, reference_layer
from ddsp_textures.inference.resynthesis import resynthesize

MODES: dict[str, str | bool] = {"none": False, "clicks": "clicks", "knocks": "knocks"}


def evaluate(name: str, first: np.ndarray, second: np.ndarray, architectures: list[str], epochs: int,
             workdir: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Rows of one texture: each architecture's two choices and their generations' scores."""
    score = held_out_scorer(first, second)
    rows = []
    for arch, model in trained(name, first, architectures, epochs, workdir):
        start = time.perf_counter()
        auto = resynthesize(model, first, transients="auto")
        by_model = next(label for label, mode in MODES.items()
                        if np.array_equal(auto, resynthesize(model, first, transients=mode)))
        choices = {"DSP chooser": reference_layer(model, "default", first) or "none", "model's chooser": by_model}
        print(f"{name} {arch}: {choices} ({time.perf_counter() - start:.0f} s)", flush=True)
        scored: dict[str, dict] = {}
        for chooser, layer in choices.items():
            if layer not in scored:
                y = generate(model, len(second) / FS, first, transients=None if layer == "none" else layer)
                scored[layer] = score(y)
            row = scored[layer]
            rows.append({"texture": name, "architecture": arch, "chooser": chooser, "layer": layer, **row})
            print(f"  {chooser}: {layer}, log-mel FD x{row['mel_fd_ratio']:.2f}, KAD x{row['kad_ratio']:.2f}, "
                  f"periodicity {row['periodicity']:.2f}/{row['reference_periodicity']:.2f}", flush=True)
    return rows, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20-s halves, 8 epochs")
    parser.add_argument("--textures", nargs="+", default=None, help="a subset of the textures")
    args = parser.parse_args()
    epochs = 8 if args.quick else 25
    rows, _ = evaluate_textures(evaluate, args.quick, args.textures, ["TexDSP", "HYBRID"], epochs)
    columns = [("texture", "texture"), ("architecture", "model"), ("chooser", "chooser"), ("layer", "layer"),
               ("mel_fd_ratio", "log-mel FD ÷ floor"), ("kad_ratio", "KAD ÷ floor"),
               ("heldout_mel_fd_ratio", "held-out log-mel FD ÷ floor"), ("onset_rate", "onsets/s"),
               ("reference_rate", "original onsets/s"), ("periodicity", "periodicity"),
               ("reference_periodicity", "original periodicity"), ("targets_met", "targets met")]
    notes = (f"Generation of the second half's length from a model trained on the first half ({epochs} epochs, "
             "eval_generation's recipe), with the layer the DSP resynthesis of the reference keeps and the one "
             "the model's own resynthesis keeps. Ratios to the floor as in eval_generation.")
    write_results(f"layer_by_model{'_quick' if args.quick else ''}", "The layer a generation places: chosen over "
                  "the DSP's bed or the model's", rows, columns, notes)


if __name__ == "__main__":
    main()
