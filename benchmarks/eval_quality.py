"""Resynthesis quality on real recordings and procedural textures, before/after in one run.

    python -m benchmarks.eval_quality                 # ../shared/recordings + procedural fire/applause/raindrops/wind
    python -m benchmarks.eval_quality --audio DIR     # every audio file of a folder instead of the recordings
    python -m benchmarks.eval_quality --quick         # 8-s excerpts, few epochs (a smoke test, not a result)
    python -m benchmarks.eval_quality --event-models  # TexDSP vs P-VAE vs hybrid (see event_models.py)

For each texture (a 20-s excerpt from second 10 of a recording, or 20 s of a procedural texture), with
frames of L = 32768 at 44.1 kHz and ``TexStat(32768, 44100, 16, 6)`` (default α, β):

* **own variability**: mean TexStat distance between consecutive frames of the original — what a perfect
  texture model could not beat with frame-aligned statistics;
* **DSP resynthesis** (TexEnv analysis → synthesis, N = 16, param_per_env = 256): *before* is the previous
  implementation (``legacy_texenv.py``: carriers filtered by H³, unbounded energy matching, whole frames rolled)
  and *after* the library's ``texenv_resynthesize`` (carriers with exact band magnitudes following the
  recording's long-term spectrum, carrier-only shifts with sqrt-Hann overlap-add). Columns: frame-aligned
  TexStat, FAD on TexStat S1–S3 embeddings, worst 1/3-octave long-term-spectrum deviation 100 Hz–16 kHz,
  envelope kurtosis (mean over bands), and the crossover ripple of the flat carriers; *layer* adds the
  transient layer (``transients=True``: clicks cut out before the TexEnv analysis, a dictionary of 32 atoms
  from the recording, events added back), *knocks* the same with the ``"knocks"`` detector (sparser, broader
  events), and *default* is what ``texenv_resynthesize``'s ``"auto"`` keeps; every DSP column after *before*
  includes the long-term-spectrum equaliser (``equalize=True``), shown once without it;
* **statistics matching** on the first frame (training-free, ``match_statistics`` texenv mode);
* **trained TexDSP**: a short CPU run on the same excerpt (``--epochs``; :func:`short_config` with
  :data:`MODEL_SETTINGS`), resynthesised with its own features, and with the input's transient layer added to the
  model's bed (``resynthesize(..., transients="auto")``);
* **frame repetition** (:func:`~ddsp_textures.metrics.frame_repetition`) of the original, the DSP resynthesis
  and the model: whether consecutive frames repeat one envelope timeline (a loop).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ddsp_textures import metrics
from ddsp_textures.dsp.audio import audio_files, load_audio, load_excerpt, save_audio
from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.dsp.framing import frame_signal, zscore
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.metrics import (
    frame_distance,
    frame_repetition,
    texstat_embeddings,
    third_octave_deviation_db,
)
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths import crossover_ripple, make_carriers, texenv_resynthesize
from ddsp_textures.synths.matching import match_statistics
from ddsp_textures.synths.transients import analyze_transients
from ddsp_textures.textures import make_texture
from ddsp_textures.threads import set_threads
from ddsp_textures.training.rundir import load_run
from ddsp_textures.training.trainer import train

from . import event_models
from .common import RESULTS, add_summary, write_results
from .legacy_texenv import legacy_resynthesize, legacy_seed

FS, L = 44100, 32768
RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "recordings"
PROCEDURAL = ("fire", "applause", "raindrops", "wind")
STATIONARY = {"water", "amazon-rainforest", "wind", "rain"}


def excerpts(seconds: float, audio: Path | None = None) -> dict[str, np.ndarray]:
    """The benchmark's textures: ``seconds`` from second 10 of every recording in ``audio`` (default
    ../shared/recordings), and, without ``audio``, the procedural :data:`PROCEDURAL` textures (seed 11)."""
    folder = audio or RECORDINGS
    sounds: dict[str, np.ndarray] = {}
    if folder.is_dir():
        for path in audio_files(folder):
            sounds[path.stem] = load_excerpt(path, FS, seconds)
    else:
        print(f"no recordings in {folder}: procedural textures only")
    if audio is None:
        for name in PROCEDURAL:
            sounds[name] = make_texture(name, seconds, FS, seed=11)
    return sounds


def envelope_kurtosis(bank, x: torch.Tensor) -> float:
    return metrics.envelope_kurtosis(x, bank)


def describe(measure: TexStat, bank, x: torch.Tensor, ys: list[torch.Tensor], emb_x: np.ndarray) -> dict[str, float]:
    """Metrics averaged over resyntheses with different carrier seeds (TexStat varies by ±10 % between seeds)."""
    rows = [metrics.describe_resynthesis(x, y.float(), measure, bank, emb_x) for y in ys]
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["texstat_spread"] = float(np.std([r["texstat"] for r in rows]))
    return out


MODEL_SETTINGS = {"features_list": ["energy_bands", "centroid", "rate", "band_shapes"],
                  "regularizers_list": ["band_shapes"], "regularizer_weight": 20, "positive_dc": True}
"""What the trained-TexDSP rows add to :func:`short_config`: the ``band_shapes`` feature and regulariser (×20)
and ``positive_dc`` (measured against the plain config on all seven textures by ``eval_model_features.py --all``:
train −28 %, wind −17 %, water −6 %, the others within ±3 % except rain drops +9 %)."""


def short_config(wav: Path, epochs: int, workdir: Path, run_name: str) -> dict:
    """The plain short CPU TexDSP config trained on an excerpt (``features_list``: energy_bands, centroid, rate);
    the trained-model rows add :data:`MODEL_SETTINGS`."""
    return {"audio_path": str(wav), "frame_size": L, "hop_size": L // 2, "sampling_rate": FS,
            "sequence_length": 2, "features_list": ["energy_bands", "centroid", "rate"],
            "hidden_size_enc": 64, "hidden_size_dec": 128, "param_per_env": 256, "N_filter_bank": 16,
            "M_filter_bank": 6, "batch_size": 4, "epochs": epochs, "learning_rate": 2e-3, "seed": 0,
            "models_directory": str(workdir), "run_name": run_name, "device": "cpu"}


def train_short(x: np.ndarray, name: str, epochs: int, workdir: Path
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A short TexDSP run on ``x``: its resynthesis of ``x``, the same with the input's transient layer
    (``resynthesize(..., transients="auto")``), the plain one equalised to ``x``'s long-term spectrum
    (``equalize=True``), and the training time."""
    wav = workdir / f"{name}.wav"
    save_audio(wav, x, FS)
    start = time.perf_counter()
    run = train({**short_config(wav, epochs, workdir, f"run_{name}"), **MODEL_SETTINGS}, progress=False)
    seconds = time.perf_counter() - start
    model, _ = load_run(run)
    return (resynthesize(model, x), resynthesize(model, x, transients="auto"), resynthesize(model, x, equalize=True),
            seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, help="folder of audio files (default: ../shared/recordings)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=60, help="epochs of the short TexDSP run (0: skip)")
    parser.add_argument("--steps", type=int, default=100, help="statistics-matching iterations")
    parser.add_argument("--seeds", type=int, default=3, help="carrier seeds averaged for the DSP rows")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--event-models", action="store_true",
                        help="compare TexDSP, P-VAE and the hybrid on event textures instead (event_models.py)")
    parser.add_argument("--repeats", type=int, default=2, help="training seeds per model (--event-models)")
    parser.add_argument("--jobs", type=int, default=2, help="training processes of one thread (--event-models)")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite the summary table of the results file from its JSON")
    args = parser.parse_args()
    if args.render:
        name = ("event_models" if args.event_models else "quality") + ("_quick" if args.quick else "")
        rows = json.loads((RESULTS / f"{name}.json").read_text())["rows"]
        render = event_models.summary_table if args.event_models else summary_table
        add_summary(RESULTS / f"{name}.md", render(rows))
        return
    set_threads(default=1)                # benchmarks: 1 thread unless DDSP_TEXTURES_THREADS says otherwise
    if args.event_models:
        run_event_models(args)
        return
    if args.quick:
        args.seconds, args.epochs, args.steps, args.seeds = 8.0, 2, 10, 1
    sounds = excerpts(args.seconds, args.audio)
    measure = TexStat(L, FS, 16, 6)
    bank = erb_bank(L, FS, 16)
    ripple_before = crossover_ripple(legacy_seed(bank, torch.Generator().manual_seed(0)), bank)
    ripple_after = crossover_ripple(make_carriers(bank, torch.Generator().manual_seed(0)), bank)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, audio in sounds.items():
            x = torch.tensor(np.ascontiguousarray(audio, dtype=np.float32))
            if len(x) < 3 * L:
                print(f"skipping {name}: shorter than 3 frames")
                continue
            emb_x = texstat_embeddings(frame_signal(x, L, L // 2), measure)
            row = {"texture": name, "kind": "stationary" if name in STATIONARY else "impulsive",
                   "own": frame_distance(measure, x[:-L], x[L:]), "kurt_orig": envelope_kurtosis(bank, x),
                   "repetition_orig": frame_repetition(x, bank)}
            seeds = range(args.seeds)
            before = describe(measure, bank, x, [legacy_resynthesize(x.double(), bank, 256, s) for s in seeds], emb_x)
            row.update({f"{k}_before": v for k, v in before.items()})
            variants = {"after": {"transients": False}, "layer": {"transients": True},
                        "knocks": {"transients": "knocks"}, "noeq": {"transients": False, "equalize": False}}
            results = {tag: describe(measure, bank, x,
                                     [texenv_resynthesize(x.double(), bank, 256, **kwargs,
                                                          generator=torch.Generator().manual_seed(s))
                                      for s in seeds], emb_x)
                       for tag, kwargs in variants.items()}
            for tag in ("after", "layer", "knocks"):
                row.update({f"{k}_{tag}": v for k, v in results[tag].items()})
            raw = results["noeq"]
            row["texstat_noeq"], row["lts_noeq"] = raw["texstat"], raw["lts"]
            layer, _ = analyze_transients(x.double(), FS, generator=torch.Generator().manual_seed(0))
            row["events_per_s"], row["atoms"] = layer.rate(FS), int(layer.atoms.shape[0])
            # what texenv_resynthesize's default ("auto") keeps: the closest of the three to the original
            choice = {"TexEnv": "after", "clicks": "layer", "knocks": "knocks"}
            row["auto"] = min(choice, key=lambda c: row[f"texstat_{choice[c]}"])
            for k in ("texstat", "lts", "fad", "kurt"):
                row[f"{k}_auto"] = row[f"{k}_{choice[row['auto']]}"]
            row["ripple_before"], row["ripple_after"] = ripple_before, ripple_after
            matched = match_statistics(zscore(x[:L]), measure, "texenv", steps=args.steps,
                                       generator=torch.Generator().manual_seed(0))
            row["matching"] = float(measure(zscore(x[:L])[None], matched.audio[None].float()))
            if args.epochs > 0:
                y, y_layer, y_eq, seconds = train_short(audio, name, args.epochs, Path(tmp))
                row["model_eq"] = frame_distance(measure, x, torch.tensor(y_eq))
                row["model_eq_lts"] = float(np.abs(third_octave_deviation_db(x, torch.tensor(y_eq), FS)).max())
                row["model"] = frame_distance(measure, x, torch.tensor(y))
                row["model_layer"] = frame_distance(measure, x, torch.tensor(y_layer))
                row["model_layer_ratio"] = row["model_layer"] / row["texstat_auto"]
                row["model_lts"] = float(np.abs(third_octave_deviation_db(x, torch.tensor(y), FS)).max())
                row["model_ratio"] = row["model"] / row["texstat_after"]
                row["model_repetition"] = frame_repetition(torch.tensor(y), bank)
                row["model_ratio_auto"] = row["model"] / row["texstat_auto"]
                row["train_s"] = seconds
            row["change"] = f"{100 * (row['texstat_after'] / row['texstat_before'] - 1):+.0f} %"
            row["change_auto"] = f"{100 * (row['texstat_auto'] / row['texstat_before'] - 1):+.0f} %"
            rows.append(row)
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    columns = [("texture", "texture"), ("kind", "kind"), ("own", "own variability"),
               ("texstat_before", "DSP TexStat before"), ("texstat_after", "DSP TexStat after"),
               ("texstat_spread_after", "± (seeds)"), ("change", "change"),
               ("texstat_layer", "DSP + transient layer"), ("texstat_spread_layer", "± (seeds) layer"),
               ("texstat_knocks", "DSP + layer (knocks)"), ("auto", "default (auto) keeps"),
               ("texstat_auto", "DSP default"), ("change_auto", "change (default)"),
               ("texstat_noeq", "TexEnv without equaliser"),
               ("events_per_s", "events/s"), ("atoms", "atoms"),
               ("fad_before", "FAD before"), ("fad_after", "FAD after"), ("fad_layer", "FAD layer"),
               ("lts_before", "worst 1/3-oct dB before"), ("lts_after", "worst 1/3-oct dB after"),
               ("lts_layer", "worst 1/3-oct dB layer"), ("lts_knocks", "worst 1/3-oct dB knocks"),
               ("lts_noeq", "worst 1/3-oct dB without equaliser"), ("lts_auto", "worst 1/3-oct dB default"),
               ("fad_auto", "FAD default"), ("kurt_auto", "kurtosis default"),
               ("kurt_orig", "env. kurtosis original"), ("kurt_before", "kurtosis before"),
               ("kurt_after", "kurtosis after"), ("kurt_layer", "kurtosis layer"),
               ("matching", "stat. matching (frame 0)"),
               ("model", "trained TexDSP TexStat"), ("model_ratio", "model / DSP after"),
               ("model_ratio_auto", "model / DSP default"),
               ("model_layer", "trained TexDSP + input's layer (auto)"),
               ("model_layer_ratio", "(model + layer) / DSP default"),
               ("model_lts", "model worst 1/3-oct dB"),
               ("model_eq", "trained TexDSP, equalize=True"), ("model_eq_lts", "equalised model worst 1/3-oct dB"),
               ("repetition_orig", "frame repetition original"), ("repetition_after", "frame repetition DSP"),
               ("model_repetition", "frame repetition model"), ("train_s", "train s")]
    notes = (f"Excerpts of {args.seconds:g} s at {FS} Hz (recordings from second 10); frames of {L}; "
             f"TexStat(32768, 44100, 16, 6) with default α, β; TexEnv N=16, param_per_env=256 "
             f"(after: transients=False; layer: transients=True, 'clicks' detector, 32 atoms; knocks: the "
             f"'knocks' detector; default: the closest of the three, as transients='auto'; all with the "
             f"long-term-spectrum equaliser, 'without equaliser': TexEnv with equalize=False); "
             f"DSP rows are means over "
             f"{args.seeds} carrier seeds (± is their standard deviation). Crossover ripple "
             f"of the flat carriers: before {ripple_before:.2f} dB, after {ripple_after:.2f} dB. Trained TexDSP: "
             f"{args.epochs} epochs on the excerpt itself (CPU; short_config + MODEL_SETTINGS: band_shapes "
             f"feature and regulariser ×20, positive_dc), resynthesised with its own features (whole frames "
             f"rotated to random quiet starts; each frame given its input frame's band loudness, measured on the "
             f"Hann-tapered frame; 'equalize=True': the same filtered to the input's long-term spectrum). "
             f"Frame repetition: correlation of band envelopes between "
             f"consecutive frames (metrics.frame_repetition; 1 = a loop of one frame).")
    path = write_results("quality" + ("_quick" if args.quick else ""), "Resynthesis quality, before/after", rows,
                         columns, notes=notes)
    add_summary(path, summary_table(rows))


SUMMARY_HEADER = ("| texture | own variability | DSP TexStat before → TexEnv → **default** | worst 1/3-oct dB before → "
                  "TexEnv without equaliser → default | FAD TexEnv → default | env. kurtosis original / TexEnv / "
                  "default | trained TexDSP (÷ TexEnv DSP) | trained + input's layer, auto (÷ DSP default) |")


def summary_table(rows: list[dict]) -> list[str]:
    """The README's digest of the full table: one row per texture, a few columns each."""
    lines = [SUMMARY_HEADER, "|" + "---|" * SUMMARY_HEADER.count(" | ") + "---|"]
    for r in rows:
        model = (f"{r['model']:.2f} ({r['model_ratio']:.2f}×) | {r['model_layer']:.2f} "
                 f"({r['model_layer_ratio']:.2f}×)") if "model" in r else "– | –"
        lines.append(f"| {r['texture']} ({r['kind']}) | {r['own']:.2f} | {r['texstat_before']:.2f} → "
                     f"{r['texstat_after']:.2f} → **{r['texstat_auto']:.2f}** ({r['auto']}, {r['change_auto']}) | "
                     f"{r['lts_before']:.1f} → {r['lts_noeq']:.1f} → {r['lts_auto']:.1f} | "
                     f"{r['fad_after']:.3g} → {r['fad_auto']:.3g} | "
                     f"{r['kurt_orig']:.0f} / {r['kurt_after']:.0f} / {r['kurt_auto']:.0f} | {model} |")
    return lines



def event_excerpts(seconds: float) -> dict[str, np.ndarray]:
    """The event-model benchmark's textures (``event_models.EVENT_TEXTURES`` and ``STATIONARY``): ``seconds``
    from second 10 of a recording resampled to ``event_models.FS``, or a procedural texture (seed 11)."""
    sounds: dict[str, np.ndarray] = {}
    for name in event_models.EVENT_TEXTURES + event_models.STATIONARY:
        path = next((p for p in audio_files(RECORDINGS) if p.stem == name), None) if RECORDINGS.is_dir() else None
        if path is not None:
            audio = load_audio(path, event_models.FS)
            sounds[name] = audio[int(10 * event_models.FS):int((10 + seconds) * event_models.FS)]
        elif name in PROCEDURAL:
            sounds[name] = make_texture(name, seconds, event_models.FS, seed=11)
        else:
            print(f"skipping {name}: not in {RECORDINGS}")
    return sounds


def run_event_models(args: argparse.Namespace) -> None:
    seconds, epochs, repeats = (6.0, 1, 1) if args.quick else (args.seconds, args.epochs, args.repeats)
    sounds = event_excerpts(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        rows = event_models.evaluate(sounds, epochs, repeats, Path(tmp), jobs=args.jobs)
    notes = (f"{seconds:g}-s excerpts at {event_models.FS} Hz, frames of {event_models.L}, "
             f"TexStat({event_models.L}, {event_models.FS}, 16, 6); each architecture trained {epochs} epochs on the "
             f"excerpt with the same features and optimiser, means over {repeats} training seed(s); "
             f"see benchmarks/event_models.py.")
    path = write_results("event_models" + ("_quick" if args.quick else ""),
                         "Event textures: TexDSP vs P-VAE vs hybrid", rows, event_models.COLUMNS, notes=notes)
    add_summary(path, event_models.summary_table(rows))


if __name__ == "__main__":
    main()
