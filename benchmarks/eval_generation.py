"""Time-free evaluation of trained models and of generation (issue 29's yardstick): ``python -m
benchmarks.eval_generation [--quick] [--architectures TexDSP PVAE HYBRID]``.

For each texture — the shared recordings (``../shared/recordings``) and procedural fire, applause, rain drops and
wind — the first half trains a model and is the reference; the second half is the **floor** (another stretch of
the same texture).  Scored against the first half with :class:`ddsp_textures.metrics.Yardstick`: the floor, the
DSP resynthesis of the second half, each trained model's resynthesis of the second half, and its ``generate``
output of the same length — *before* (``variation="mean"``: the mean features, one average frame repeated) and
*after* (the default: the reference's bootstrapped feature trajectory, and for TexDSP and hybrid models the
reference's transient atoms placed anew, from the layer the DSP resynthesis of the reference keeps — none,
"clicks" or "knocks", the "layer" column; a hybrid's "own events only" row is its generation without them).
Generation draws from the first half, so it is also scored against the second half, which it never saw
("held-out" columns; the floor is symmetric).  Writes ``results/generation[_quick].{json,md}`` and a
PNG of spectrograms side by side.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from benchmarks.common import RESULTS, add_summary, write_results
from ddsp_textures.dsp.audio import audio_files, load_audio, save_audio
from ddsp_textures.inference.generation import generate, reference_layer
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.metrics import Yardstick, meets_targets, relative
from ddsp_textures.models import TextureModel
from ddsp_textures.plotting import spectrogram
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths import texenv_resynthesize
from ddsp_textures.textures import make_texture
from ddsp_textures.training.data import load_sources
from ddsp_textures.training.rundir import load_run
from ddsp_textures.training.trainer import train

FS, L, N_BANDS = 44100, 16384, 16
Evaluate = Callable[[str, np.ndarray, np.ndarray, list[str], int, Path], tuple[list[dict], dict[str, np.ndarray]]]
RECORDINGS = Path(__file__).resolve().parents[1].parent / "shared" / "recordings"
PROCEDURAL = ("fire", "applause", "raindrops", "wind")
MAX_HALF_S = 40.0


def halves(quick: bool, textures: list[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{texture: (first half, second half)}``, each half at most :data:`MAX_HALF_S` (quick: 20 s); only the
    ``textures`` named, if given."""
    longest = 20.0 if quick else MAX_HALF_S
    sounds = {}
    if RECORDINGS.is_dir():
        for path in audio_files(RECORDINGS):
            sounds[path.stem] = load_audio(path, FS)
    else:
        print(f"no recordings in {RECORDINGS}: procedural textures only")
    for name in PROCEDURAL:
        sounds[name] = make_texture(name, 2 * longest, FS, seed=11)
    out = {}
    for name, x in sounds.items():
        if textures and name not in textures:
            continue
        half = min(len(x) // 2, int(longest * FS))
        out[name] = (x[:half], x[len(x) // 2: len(x) // 2 + half])
    return out


def shuffled(x: np.ndarray, block_s: float = 1.5, seed: int = 0) -> np.ndarray:
    """``x`` cut in blocks of ``block_s`` seconds put back in a random order: a copy of the recording that
    generation from it could at best be — what the yardstick gives for copying the reference."""
    block = int(block_s * FS)
    pieces = [x[i: i + block] for i in range(0, len(x) - block + 1, block)]
    order = np.random.default_rng(seed).permutation(len(pieces))
    return np.concatenate([pieces[i] for i in order])


VARIANTS = {"PVAE_NO_BACKGROUND": ("PVAE", {"pvae_background": False}, "PVAE, no background"),
            "PVAE_MIXTURE": ("PVAE", {"vae_grain_draw": "mixture"}, "PVAE, blended grains"),
            "HYBRID_MIXTURE": ("HYBRID", {"vae_grain_draw": "mixture"}, "HYBRID, blended grains")}
"""Earlier settings kept as "before" columns: ``--architectures NAME`` → (architecture, config keys, label)."""


def config(architecture: str, wav: Path, epochs: int, workdir: Path) -> dict:
    """The TexDSP recipe of the main job as it shipped until ``benchmarks/eval_main_job.py`` (with 16 bands) on
    ``wav``; P-VAE and hybrid with its event keys; a name of :data:`VARIANTS` for an earlier setting."""
    run_name = f"{wav.stem}_{architecture}"
    architecture, extra, _ = VARIANTS.get(architecture, (architecture, {}, architecture))
    cfg = {"architecture": architecture, "audio_path": str(wav), "sampling_rate": FS, "frame_size": L,
           "hop_size": L // 2, "sequence_length": 4, "features_list": ["energy_bands", "centroid", "rate"],
           "hidden_size_enc": 64, "hidden_size_dec": 128, "param_per_env": 128, "N_filter_bank": N_BANDS,
           "M_filter_bank": 6, "batch_size": 4, "epochs": epochs, "learning_rate": 2e-3, "seed": 0,
           "device": "cpu", "models_directory": str(workdir), "run_name": run_name}
    if architecture == "TexDSP":
        cfg.update({"alpha": [10, 1, 0.1, 0.01], "beta": [1, 20, 20, 20, 20], "positive_dc": True})
    else:
        cfg.update({"features_list": ["energy_bands", "centroid", "rate", "events"], "atoms_number": 4,
                    "vae_grain_size": 1024, "vae_param_per_env": 32, "vae_epochs": 30})
    return {**cfg, **extra}


def score_row(stick: Yardstick, floor: dict[str, float], y: np.ndarray,
              held: tuple[Yardstick, dict[str, float]] | None = None) -> dict:
    """One candidate's row: the yardstick's scores of ``y``, their ratios to ``floor`` (:func:`relative`), the
    KAD and log-mel FD ratios against a held-out ``(yardstick, its floor's scores)`` (NaN without one), the
    reference's event statistics and the targets met."""
    scores = stick.scores(y)
    rel = relative(scores, floor, stick.events)
    unseen = {"heldout_kad_ratio": float("nan"), "heldout_mel_fd_ratio": float("nan")}
    if held is not None:
        other = relative(held[0].scores(y), held[1], held[0].events)
        unseen = {"heldout_kad_ratio": other["kad_ratio"], "heldout_mel_fd_ratio": other["mel_fd_ratio"]}
    met = meets_targets(rel, stick.events["onset_rate"])
    return {**scores, **rel, **unseen, "reference_rate": stick.events["onset_rate"],
            "reference_periodicity": stick.events["periodicity"],
            "reference_peak_to_median": stick.events["peak_to_median"],
            "targets_met": ", ".join(k for k, v in met.items() if v) or "none"}


def held_out_scorer(first: np.ndarray, second: np.ndarray) -> Callable[[np.ndarray], dict]:
    """:func:`score_row` of a generation from ``first``: scored against it (the floor: ``second``) and, held out,
    against ``second`` (the floor: ``first``)."""
    measure = TexStat(L, FS, N_BANDS, 6)
    stick, held = Yardstick(first, FS, measure, floor=second), Yardstick(second, FS, measure, floor=first)
    floor, held_floor = stick.floor_scores(), held.floor_scores()
    return lambda y: score_row(stick, floor, y, (held, held_floor))


def trained(name: str, first: np.ndarray, architectures: list[str], epochs: int, workdir: Path
            ) -> Iterator[tuple[str, TextureModel]]:
    """``(architecture, model)`` trained on ``first`` (saved once as ``name.wav``) with :func:`config`, one after
    the other."""
    wav = workdir / f"{name}.wav"
    save_audio(wav, first, FS, subtype="FLOAT")     # as the yardstick hears it: no 16-bit noise
    for arch in architectures:
        yield arch, load_run(train(config(arch, wav, epochs, workdir), progress=False))[0]


def bed_arguments(description: str) -> argparse.Namespace:
    """The command line of the before/after benchmarks of models with a bed (``eval_bed_spread``,
    ``eval_layer_gain``, ``eval_bed_eq``): ``--quick``, ``--textures``, ``--architectures``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="20-s halves, 8 epochs")
    parser.add_argument("--textures", nargs="*", help="a subset of eval_generation's textures")
    parser.add_argument("--architectures", nargs="*", default=["TexDSP", "HYBRID"])
    return parser.parse_args()


def evaluate_textures(evaluate: Evaluate, quick: bool, textures: list[str] | None, architectures: list[str],
                      epochs: int) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """``evaluate(name, first half, second half, architectures, epochs, workdir)`` on each texture's
    :func:`halves` (seeded, one temporary directory for the runs): all rows, and each texture's signals."""
    torch.manual_seed(0)
    rows, signals = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (first, second) in halves(quick, textures).items():
            texture_rows, signals[name] = evaluate(name, first, second, architectures, epochs, Path(tmp))
            rows += texture_rows
    return rows, signals


def evaluate(name: str, first: np.ndarray, second: np.ndarray, architectures: list[str], epochs: int,
             workdir: Path) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Rows of one texture and the signals to draw."""
    print(f"{name}: halves of {len(first) / FS:.1f} s", flush=True)
    measure = TexStat(L, FS, N_BANDS, 6)
    stick = Yardstick(first, FS, measure, floor=second)
    floor = stick.floor_scores()
    candidates = {"second half (floor)": second, "first half, shuffled (control)": shuffled(first),
                  "DSP resynthesis": texenv_resynthesize(torch.tensor(second, dtype=torch.float64),
                                                         measure.cochlear.double(), 128,
                                                         generator=torch.Generator().manual_seed(0)).float().numpy()}
    layers: dict[str, str] = {}                 # the transient layer each default generation placed
    wav = workdir / f"{name}.wav"
    save_audio(wav, first, FS, subtype="FLOAT")     # as the yardstick hears it: no 16-bit noise
    seconds = len(second) / FS
    for variant in architectures:
        start = time.perf_counter()
        model, _ = load_run(train(config(variant, wav, epochs, workdir), progress=False))
        arch = VARIANTS.get(variant, (None, None, variant))[2]
        print(f"  {name} {arch}: trained in {time.perf_counter() - start:.0f} s", flush=True)
        candidates[f"{arch} resynthesis"] = resynthesize(model, second)
        if arch == "TexDSP":
            candidates["TexDSP resynthesis + clicks"] = resynthesize(model, second, transients="clicks")
        candidates[f"{arch} generate, before"] = generate(model, seconds, first, variation="mean")
        candidates[f"{arch} generate"] = generate(model, seconds, first)
        if model.has_carriers:              # a layer over a TexEnv bed (a P-VAE takes none)
            layers[f"{arch} generate"] = reference_layer(model, "default", first) or "none"
            print(f"  {name} {arch}: layer {layers[f'{arch} generate']}, lines spread "
                  f"x{float(model.line_spread):g}, layer gain {20 * np.log10(float(model.layer_gain)):+.1f} dB "
                  f"after training", flush=True)
        if model.has_background:           # a P-VAE: as it was before its share was calibrated after training
            calibrated = float(model.background_share)
            model.prepare_background([torch.as_tensor(s) for s in load_sources(str(wav), FS)])  # as training did
            print(f"  {name} {arch}: background share measured {float(model.background_share):.3f}, "
                  f"calibrated {calibrated:.3f}", flush=True)
            candidates[f"{arch} resynthesis, measured share"] = resynthesize(model, second)
            candidates[f"{arch} generate, measured share"] = generate(model, seconds, first)
            model.background_share.fill_(calibrated)
        if model.synthesizes_events and model.has_carriers:      # a hybrid: without the reference's layer
            candidates[f"{arch} generate, own events only"] = generate(model, seconds, first, transients=None)
    held_out = Yardstick(second, FS, measure, floor=first)     # the half that no model or generation saw
    held_floor = held_out.floor_scores()
    rows = []
    for label, y in candidates.items():
        unseen = "resynthesis" not in label and "floor" not in label     # resyntheses are of the second half
        row = score_row(stick, floor, y, (held_out, held_floor) if unseen else None)
        rows.append({"texture": name, "candidate": label, "layer": layers.get(label, ""), **row})
        print(f"  {name} | {label}: KAD ×{row['kad_ratio']:.2f}, mel FD ×{row['mel_fd_ratio']:.2f}, "
              f"spread {row['spread']:.2f}, rate {row['onset_rate']:.2f}/{row['reference_rate']:.2f}, "
              f"periodicity {row['periodicity']:.2f}", flush=True)
    return rows, {"original": first, **candidates}


def before_after(rows: list[dict]) -> list[str]:
    """A digest of each :data:`VARIANTS` setting (before) against its architecture's default (after), and of a
    hybrid's generation without the reference's layer (before) and with it (after): per texture and candidate, log-mel
    FD and KAD ÷ floor, onsets/s and frame spread, before → after, and the layer placed."""
    pairs = [(f"{label} {kind}", f"{arch} {kind}", f"{arch} {kind}") for arch, _, label in VARIANTS.values()
             for kind in ("resynthesis", "generate")]
    pairs += [("HYBRID generate, own events only", "HYBRID generate", "HYBRID generate: + the reference's layer")]
    lines = ["| texture | candidate | layer | log-mel FD ÷ floor | KAD ÷ floor | onsets/s (original) | frame spread |",
             "|---|---|---|---|---|---|---|"]
    index = {(r["texture"], r["candidate"]): r for r in rows}
    for texture in dict.fromkeys(r["texture"] for r in rows):
        for before, after, label in pairs:
            a, b = index.get((texture, before)), index.get((texture, after))
            if a is None or b is None:
                continue
            lines.append(f"| {texture} | {label} | {b.get('layer', '')} | {a['mel_fd_ratio']:.3g} → "
                         f"**{b['mel_fd_ratio']:.3g}** | "
                         f"{a['kad_ratio']:.3g} → {b['kad_ratio']:.3g} | {a['onset_rate']:.2f} → "
                         f"{b['onset_rate']:.2f} ({b['reference_rate']:.2f}) | {a['spread']:.2f} → "
                         f"{b['spread']:.2f} |")
    return lines if len(lines) > 2 else []


def draw(signals: dict[str, dict[str, np.ndarray]], path: Path, seconds: float = 6.0) -> None:
    """Spectrograms side by side: one row per texture, one column per signal (first ``seconds``)."""
    names = list(signals)
    labels = list(next(iter(signals.values())))
    fig, axes = plt.subplots(len(names), len(labels), figsize=(2.6 * len(labels), 1.9 * len(names)),
                             squeeze=False, sharey=True)
    for i, name in enumerate(names):
        for j, label in enumerate(labels):
            x = np.asarray(signals[name][label])[: int(seconds * FS)]
            spectrogram(axes[i, j], x / (np.sqrt(np.mean(x**2)) + 1e-12), FS,
                        f"{name}: {label}" if j == 0 else label, max_freq=16000)
            axes[i, j].title.set_fontsize(8)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20-s halves, 8 epochs")
    parser.add_argument("--architectures", nargs="+", default=["TexDSP"],
                        choices=["TexDSP", "PVAE", "HYBRID", *VARIANTS])
    parser.add_argument("--textures", nargs="+", default=None, help="a subset of the textures")
    parser.add_argument("--name", default=None, help="results file name (default: generation[_quick])")
    parser.add_argument("--render", action="store_true", help="only rewrite the before/after digest from the JSON")
    args = parser.parse_args()
    if args.render:
        path = RESULTS / f"{args.name or 'generation' + ('_quick' if args.quick else '')}.md"
        digest = before_after(json.loads(path.with_suffix(".json").read_text())["rows"])
        if digest:
            add_summary(path, digest)
        return
    epochs = 8 if args.quick else 25
    rows, signals = evaluate_textures(evaluate, args.quick, args.textures, args.architectures, epochs)
    suffix = "_quick" if args.quick else ""
    name = args.name or f"generation{suffix}"
    draw(signals, RESULTS / f"{name}.png")
    columns = [("texture", "texture"), ("candidate", "candidate"), ("layer", "layer"), ("kad_ratio", "KAD ÷ floor"),
               ("mel_fd_ratio", "log-mel FD ÷ floor"), ("heldout_kad_ratio", "held-out KAD ÷ floor"),
               ("heldout_mel_fd_ratio", "held-out log-mel FD ÷ floor"), ("spread", "frame spread"),
               ("onset_rate", "onsets/s"), ("reference_rate", "original onsets/s"),
               ("peak_to_median", "peak/median"), ("ioi_cv", "IOI CV"), ("periodicity", "periodicity"),
               ("reference_periodicity", "original periodicity"), ("targets_met", "targets met")]
    notes = (f"First half trains ({epochs} epochs, the main job's recipe) and is the reference; the second half "
             "is the floor. Ratios are to the floor's KAD and log-mel FD; 'held-out' ratios score the same audio "
             "against the second half, which neither the model nor generation saw (not given for resyntheses, "
             "which are of the second half itself); frame spread is 1 for frames as varied "
             "as the reference's. Targets: KAD ≤ 1.5×, log-mel FD ≤ 2×, onset rate ±25 %, periodicity ≤ "
             "original + 0.1, spread within ±20 %. Spectrograms: "
             f"`{name}.png`.")
    path = write_results(name, "Time-free evaluation of resynthesis and generation", rows, columns, notes)
    digest = before_after(rows)
    if digest:
        add_summary(path, digest)


if __name__ == "__main__":
    main()
