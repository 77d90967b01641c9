"""What can an event layer win?  The input's own events as a bound for the event models.

    python -m benchmarks.eval_event_bound           # the five textures of the event-model table (≈ 5 min, --jobs 2)
    python -m benchmarks.eval_event_bound --quick   # 6-s excerpts, 1 seed, 2 epochs (a smoke test, not a result)

``event_models.py`` scores every model by the frame-aligned TexStat distance of its resynthesis to the
original — each frame against the same frame of the input.  A P-VAE or hybrid model draws its events from a
Poisson process, so the question is how much *any* event layer can take off TexDSP's distance on this
measure.  For each texture of that table (the same 20-s excerpts at 22.05 kHz, ``TexStat(16384, 22050, 16,
6)``), means over ``--seeds`` seeds (carriers, k-means, event times):

* **with the input's events** — the most an event layer can know: the DSP resynthesis (analysed TexEnv
  envelopes, 128 parameters per envelope, equalised) and the trained TexDSP model of ``event_models.py``
  (one training seed), both with the input's own transient layer
  (:func:`~ddsp_textures.synths.transients.analyze_transients`: atoms cut from the input at its event times,
  with each event's gain and band energies; the detector — ``clicks`` or ``knocks`` — that gives the DSP
  resynthesis the lower distance); the bed is resynthesised from the residual;
* **re-timed** — the same layer with the event times redrawn, over a bed whose gate gaps are filled with the
  residual 50 ms later (so it keeps no trace of the event times): exact times (the reference for this
  bed), each event re-timed within its half-frame (the events of every frame kept: what a frame-conditioned
  event model could know at best), and Poisson times (uniform over the excerpt: a Poisson process at the
  layer's own rate with the input's own atoms, amplitudes and spectra — a perfect P-VAE).

Issue 14 asks an event model for ≥ 25 % less than TexDSP on every event texture; the *best with the input's
events* column is how far the input's own events, at their own times, take a resynthesis.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ddsp_textures.dsp.audio import save_audio
from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.dsp.spectral import equalize_to
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.metrics import frame_distance, percent_change
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths import texenv_resynthesize
from ddsp_textures.synths.transients import (
    DETECTORS,
    Transients,
    analyze_transients,
    detector,
    segment_gates,
    synthesize_transients,
)
from ddsp_textures.threads import set_threads
from ddsp_textures.training.rundir import load_run
from ddsp_textures.training.trainer import train

from . import event_models
from .common import RESULTS, write_results
from .eval_quality import event_excerpts

FS, L = event_models.FS, event_models.L
PARAM_PER_ENV = 128                      # as the models of event_models.py
FILL_DELAY_S = 0.05
EVENT_VARIANTS = ("HYBRID", "HYBRID_warm", "HYBRID_free", "HYBRID_noise", "PVAE")


def dsp(x: torch.Tensor, transients: bool | str, seed: int) -> torch.Tensor:
    bank = erb_bank(L, FS, 16)
    return texenv_resynthesize(x, bank, PARAM_PER_ENV, transients=transients,
                               generator=torch.Generator().manual_seed(seed))


def fill_gates(layer: Transients, residual: torch.Tensor, name: str, fs: float) -> torch.Tensor:
    """The residual of detector ``name`` with each event's gate filled by the residual ``FILL_DELAY_S`` later
    (a linear cross-fade): a bed without a trace of the event times."""
    half = max(1, int(round(detector(name)["half_ms"] * 1e-3 * fs)))
    _, _, gate = segment_gates(layer.times, residual.shape[0], half)
    return residual + gate * torch.roll(residual, -int(FILL_DELAY_S * fs))


def filled_bed(x: torch.Tensor, layer: Transients, residual: torch.Tensor, name: str, seed: int) -> torch.Tensor:
    """TexEnv resynthesis (not equalised) of :func:`fill_gates`' bed."""
    return texenv_resynthesize(fill_gates(layer, residual, name, FS), erb_bank(L, FS, 16), PARAM_PER_ENV,
                               transients=False, equalize=False, generator=torch.Generator().manual_seed(seed))


def retimed(layer: Transients, how: str, generator: torch.Generator) -> Transients:
    """``layer`` with its event times redrawn: ``"exact"`` (kept), ``"frame"`` (uniform within the event's
    half-frame of ``L/2`` samples) or ``"poisson"`` (uniform over the signal)."""
    edge, n, count = 2 * layer.half_width, layer.length, layer.times.numel()
    if how == "exact":
        return layer
    if how == "frame":
        block = L // 2
        times = (layer.times // block) * block + torch.randint(0, block, (count,), generator=generator)
    else:
        times = torch.randint(edge, n - edge, (count,), generator=generator)
    return dataclasses.replace(layer, times=times.clamp(edge, n - edge - 1))


def run_one(name: str, audio: np.ndarray, seeds: int, epochs: int, workdir: Path) -> dict:
    set_threads(1)
    start = time.perf_counter()
    measure = TexStat(L, FS, 16, 6)
    x = torch.tensor(np.ascontiguousarray(audio, dtype=np.float64))
    xf = x.float()

    def dist(y: torch.Tensor | np.ndarray) -> float:
        return frame_distance(measure, xf, torch.as_tensor(y).float())

    row: dict = {"texture": name}
    row["dsp"] = float(np.mean([dist(dsp(x, False, s)) for s in range(seeds)]))
    exact = {d: float(np.mean([dist(dsp(x, d, s)) for s in range(seeds)])) for d in DETECTORS}
    best = min(exact, key=exact.get)
    row["detector"], row["dsp_layer"] = best, exact[best]
    values: dict[str, list[float]] = {"exact": [], "frame": [], "poisson": []}
    for s in range(seeds):       # one analysis and one bed per seed; each re-timing draws from the same state
        generator = torch.Generator().manual_seed(s)
        layer, residual = analyze_transients(x, FS, generator=generator, **detector(best))
        bed, state = filled_bed(x, layer, residual, best, s), generator.get_state()
        if s == 0:
            row["rate"] = layer.rate()
        for how, scores in values.items():
            generator.set_state(state)
            events = synthesize_transients(retimed(layer, how, generator))
            scores.append(dist(equalize_to(bed + events, x, FS)))
    row.update({f"filled_{how}": float(np.mean(scores)) for how, scores in values.items()})
    wav = workdir / f"{name}.wav"
    save_audio(wav, audio, FS)
    model, _ = load_run(train(event_models.config("TexDSP", wav, epochs, 0, workdir), progress=False))
    row["texdsp"] = float(np.mean([dist(resynthesize(model, audio, seed=s)) for s in range(seeds)]))
    row["texdsp_layer"] = float(np.mean([dist(resynthesize(model, audio, seed=s, transients=best))
                                         for s in range(seeds)]))
    row["target"] = 0.75 * row["texdsp"]
    row["best_layer"] = min(row["dsp_layer"], row["texdsp_layer"])
    row["best_vs_texdsp"] = percent_change(row["best_layer"], row["texdsp"])
    row["poisson_vs_texdsp"] = percent_change(row["filled_poisson"], row["texdsp"])
    row["seconds"] = time.perf_counter() - start
    print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return row


def event_table() -> dict[str, dict]:
    """Rows of the recorded event-model benchmark (``results/event_models.json``) by texture."""
    path = RESULTS / "event_models.json"
    return {r["texture"]: r for r in json.loads(path.read_text())["rows"]} if path.is_file() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.seeds, args.epochs = 6.0, 1, 2
    sounds = event_excerpts(args.seconds)
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, n, a, args.seeds, args.epochs, Path(tmp)) for n, a in sounds.items()]
        rows = [f.result() for f in futures]
    recorded = event_table()
    for row in rows:
        rec = recorded.get(row["texture"], {})
        row["kind"] = "stationary" if row["texture"] in event_models.STATIONARY else "event"
        row["table_texdsp"] = rec.get("TexDSP_texstat", float("nan"))
        row["table_best"] = min((rec[f"{v}_texstat"] for v in EVENT_VARIANTS if f"{v}_texstat" in rec),
                                default=float("nan"))
    columns = [("texture", "texture"), ("kind", "kind"), ("texdsp", "TexDSP"), ("target", "−25 % target"),
               ("table_texdsp", "TexDSP (event table)"), ("table_best", "best event model (event table)"),
               ("dsp", "DSP, no layer"), ("detector", "detector"), ("rate", "input's events/s"),
               ("dsp_layer", "DSP + input's events"), ("texdsp_layer", "TexDSP + input's events"),
               ("best_vs_texdsp", "best with input's events vs TexDSP"),
               ("filled_exact", "filled bed + events, exact times"),
               ("filled_frame", "filled bed + events re-timed in their half-frame"),
               ("filled_poisson", "filled bed + events at Poisson times"),
               ("poisson_vs_texdsp", "Poisson times vs TexDSP"), ("seconds", "s")]
    notes = (f"{args.seconds:g}-s excerpts at {FS} Hz (as event_models.py), TexStat({L}, {FS}, 16, 6), frame-"
             f"aligned; means over {args.seeds} seed(s); TexDSP trained {args.epochs} epochs with event_models."
             f"config (training seed 0); DSP: TexEnv analysis-resynthesis, N = 16, param_per_env = "
             f"{PARAM_PER_ENV}, equalised; event-table columns from results/event_models.json.")
    write_results("event_bound" + ("_quick" if args.quick else ""),
                  "What an event layer can win: the input's own events as a bound", rows, columns, notes=notes)


if __name__ == "__main__":
    main()
