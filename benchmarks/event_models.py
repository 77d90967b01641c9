"""TexDSP vs P-VAE vs hybrid (TexEnv bed + P-VAE events) on event textures and a stationary one.

    python -m benchmarks.eval_quality --event-models           # the table (≈ 25 min on 2 CPU cores, --jobs 2)
    python -m benchmarks.eval_quality --event-models --quick   # a smoke test, not a result

Each texture is a 20-s excerpt (recordings from second 10, resampled to 22.05 kHz) or 20 s of a procedural
texture.  The architectures get the same encoder inputs (energy bands, centroid, onset rate, event rate),
frames (L = 16384, hop L/2, sequences of 4), loss (``TexStat(16384, 22050, 16, 6)``), optimiser and number of
epochs; each is trained on the excerpt and resynthesises it with its own features.  Models with events use the
grain VAE's ``"dictionary"`` decoder (real grains of the excerpt) unless named *noise grains*; the hybrid's
*before* column is the earlier state — noise grains and the earlier inference (events capped at 90 % of each
band, the bed filling the rest: :func:`legacy_hybrid_resynthesize`) — from the same trained noise-grain model
as the *noise grains* column; *bed warm-up* trains the hybrid's bed alone for the first half of the epochs
(``event_warmup_epochs``); *no gain penalty* is the hybrid without ``event_gain_penalty`` (the default
before it); *event gain* is the events' learned share of the frame RMS, averaged over the excerpt.
Columns: frame-aligned TexStat against the original (lower is better; compare
with the own variability), FAD on TexStat S1–S3 embeddings, worst 1/3-octave long-term-spectrum deviation
(100 Hz–10 kHz) and the mean envelope kurtosis of the output next to the original's (the peakiness TexEnv
smears).  *Between inference seeds*: each trained model's resynthesis against a second one with another
inference seed (carrier shifts and events) — the model's own floor, as ``eval_carrier_floor.py`` measures it
for the DSP resynthesis; *to ÷ between* ≈ 1 means the model is as close to the original as to itself.
Results are means over ``--repeats`` training seeds; trainings run in ``--jobs`` processes of one thread each.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ddsp_textures import metrics
from ddsp_textures.dsp.audio import load_audio, save_audio
from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.dsp.framing import frame_signal, join_model_frames, random_shifts, wrap_pad, zscore
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.metrics import (
    frame_distance,
    percent_change,
    texstat_embeddings,
)
from ddsp_textures.models import HybridModel
from ddsp_textures.models.event_head import EventControls
from ddsp_textures.stats.features import band_rms
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths.pvae import pvae_synthesis
from ddsp_textures.threads import set_threads
from ddsp_textures.training.rundir import load_history, load_run
from ddsp_textures.training.trainer import train

FS, L = 22050, 16384
ARCHITECTURES = {"TexDSP": ("TexDSP", {}), "PVAE": ("PVAE", {}), "HYBRID": ("HYBRID", {}),
                 "HYBRID_noise": ("HYBRID", {"vae_decoder": "noise"}),
                 "HYBRID_warm": ("HYBRID", {"event_warmup_epochs": 0.5}),
                 "HYBRID_free": ("HYBRID", {"event_gain_penalty": 0.0})}
"""column prefix → (architecture, config overrides); HYBRID_noise also gives the HYBRID_before column; an
``event_warmup_epochs`` below 1 is that fraction of the epochs; HYBRID_free is the hybrid without the event
gain penalty (the default before it)"""
EVENT_TEXTURES = ("raindrops", "applause", "fire", "train")
STATIONARY = ("amazon-rainforest",)


def config(variant: str, wav: Path, epochs: int, seed: int, workdir: Path) -> dict:
    architecture, overrides = ARCHITECTURES[variant]
    if 0 < overrides.get("event_warmup_epochs", 0) < 1:
        overrides = {**overrides, "event_warmup_epochs": int(overrides["event_warmup_epochs"] * epochs)}
    return {**overrides, "architecture": architecture, "audio_path": str(wav), "sampling_rate": FS, "frame_size": L,
            "hop_size": L // 2, "sequence_length": 4, "features_list": ["energy_bands", "centroid", "rate", "events"],
            "hidden_size_enc": 64, "hidden_size_dec": 128, "param_per_env": 128, "N_filter_bank": 16,
            "M_filter_bank": 6, "atoms_number": 4, "vae_grain_size": 1024, "vae_param_per_env": 32,
            "vae_epochs": 30, "batch_size": 4, "epochs": epochs, "learning_rate": 2e-3, "seed": seed,
            "device": "cpu", "models_directory": str(workdir), "run_name": f"{wav.stem}_{variant}_{seed}"}


def envelope_kurtosis(x: torch.Tensor) -> float:
    return metrics.envelope_kurtosis(x, erb_bank(L, FS, 16))


def half_overlap(model: HybridModel, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """What ``resynthesize`` analyses: the wrap-padded signal's frames at hop ``L/2`` (the model's GRU runs over
    all of them; the even ones, ``L`` apart, are synthesised) and their features ``(1, F, ·)``."""
    length = model.frame_size
    frames = wrap_pad(x, max(1, -(-x.shape[0] // length)) * length).unfold(-1, length, length // 2)
    return frames, [f.unsqueeze(0) for f in model.features(zscore(frames))]


@torch.no_grad()
def legacy_hybrid_resynthesize(model: HybridModel, audio: np.ndarray, seed: int) -> np.ndarray:
    """The hybrid's inference before band equalisation: hard events scaled to ``gain`` times the frame RMS and
    capped at 90 % of any band's power; the bed gets each band's remaining power (at least 1 %) with TexDSP's
    ``"specific"`` loudness.  Same frames, shifts and events as
    :func:`~ddsp_textures.inference.resynthesis.resynthesize`."""
    x = torch.tensor(np.ascontiguousarray(audio, dtype=np.float32))
    frames, feats = half_overlap(model, x)
    whole = torch.arange(0, frames.shape[0], 2)
    generator = torch.Generator().manual_seed(seed)
    shifts = random_shifts(len(whole), model.frame_size, generator, hop=model.frame_size).unsqueeze(0)
    target_power = band_rms(frames[whole], model.bank).unsqueeze(0).pow(2)
    coeffs, c = model.controls(feats)
    coeffs, c = coeffs[:, whole], EventControls(*(t[:, whole] for t in c))
    events = pvae_synthesis(model.vae, c.rate, c.alpha, c.latents, model.frame_size, relaxed=False,
                            generator=generator)
    events = c.gain.unsqueeze(-1) * zscore(events) * target_power.sum(-1, keepdim=True).sqrt()
    event_power = band_rms(events, model.bank).pow(2)
    cap = (0.9 * target_power / (event_power + 1e-20)).amin(-1).clamp(max=1.0)
    events, event_power = events * cap.sqrt().unsqueeze(-1), event_power * cap.unsqueeze(-1)
    bed_target = torch.maximum(target_power - event_power, 0.01 * target_power).sqrt()
    out = model.synth(coeffs, "specific", bed_target, shifts) + events
    return join_model_frames(out[0], model.fs, generator, rotate=False)[: x.shape[0]].numpy()   # as before: not rotated


def describe(measure: TexStat, x: torch.Tensor, emb_x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    out = metrics.describe_resynthesis(x, torch.tensor(y), measure, erb_bank(L, FS, 16), emb_x, high=10000.0)
    return {k: out[k] for k in ("texstat", "fad", "lts", "kurt")}


def run_one(wav: Path, variant: str, epochs: int, seed: int, workdir: Path) -> dict[str, dict[str, float]]:
    """Train one variant on one excerpt and describe its resynthesis: ``{column prefix: metrics}``."""
    set_threads(1)
    audio = load_audio(wav, FS)
    x = torch.tensor(audio)
    measure = TexStat(L, FS, 16, 6)
    emb_x = texstat_embeddings(frame_signal(x, L, L // 2), measure)
    start = time.perf_counter()
    run = train(config(variant, wav, epochs, seed, workdir), progress=False)
    seconds = time.perf_counter() - start
    model, _ = load_run(run)
    val = min(load_history(run)["val_texstat"][1:])
    y = resynthesize(model, audio, seed=seed)
    # the model's own floor: the same trained model resynthesised with another inference seed (carriers, events)
    floor = frame_distance(measure, torch.tensor(y), torch.tensor(resynthesize(model, audio, seed=seed + 1000)))
    out = {variant: {**describe(measure, x, emb_x, y), "val": val, "seconds": seconds, "floor": floor}}
    out[variant]["floor_ratio"] = out[variant]["texstat"] / floor
    if isinstance(model, HybridModel):                 # the events' learned share of the frame RMS
        with torch.no_grad():
            _, feats = half_overlap(model, x)
            out[variant]["gain"] = float(model.controls(feats)[1].gain.mean())
    if variant == "HYBRID_noise":
        out["HYBRID_before"] = {**describe(measure, x, emb_x, legacy_hybrid_resynthesize(model, audio, seed)),
                                "val": val, "seconds": seconds}
    print(f"{wav.stem} {variant} seed {seed}: " + ", ".join(
        f"{k} {v['texstat']:.3g}" for k, v in out.items()), flush=True)
    return out


def evaluate(sounds: dict[str, np.ndarray], epochs: int, repeats: int, workdir: Path, jobs: int = 2) -> list[dict]:
    measure = TexStat(L, FS, 16, 6)
    wavs = {}
    for name, audio in sounds.items():
        wavs[name] = workdir / f"{name}.wav"
        save_audio(wavs[name], audio, FS)
    tasks = [(name, variant, seed) for name in sounds for variant in ARCHITECTURES for seed in range(repeats)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, wavs[n], v, epochs, s, workdir) for n, v, s in tasks]
        results = [f.result() for f in futures]
    rows = []
    for name in sounds:
        x = torch.tensor(load_audio(wavs[name], FS))
        row = {"texture": name, "kind": "stationary" if name in STATIONARY else "event",
               "own": frame_distance(measure, x[:-L], x[L:]), "kurt_orig": envelope_kurtosis(x)}
        runs: dict[str, list[dict[str, float]]] = {}
        for (n, _, _), result in zip(tasks, results, strict=True):
            for prefix, metrics_ in result.items():
                if n == name:
                    runs.setdefault(prefix, []).append(metrics_)
        for prefix, items in runs.items():
            for key in items[0]:
                row[f"{prefix}_{key}"] = float(np.mean([r[key] for r in items]))
        reference = row["TexDSP_texstat"]
        best = min(row[f"{v}_texstat"] for v in ("PVAE", "HYBRID", "HYBRID_warm", "HYBRID_free"))
        row["best_vs_texdsp"] = percent_change(best, reference)
        for key, prefix in (("hybrid", "HYBRID"), ("warm", "HYBRID_warm"), ("free", "HYBRID_free"),
                            ("before", "HYBRID_before")):
            row[f"{key}_vs_texdsp"] = percent_change(row[f"{prefix}_texstat"], reference)
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return rows


COLUMNS = [("texture", "texture"), ("kind", "kind"), ("own", "own variability"),
           ("TexDSP_texstat", "TexDSP TexStat"), ("PVAE_texstat", "P-VAE TexStat"),
           ("HYBRID_before_texstat", "hybrid before TexStat"), ("HYBRID_noise_texstat", "hybrid noise grains TexStat"),
           ("HYBRID_texstat", "hybrid TexStat"), ("before_vs_texdsp", "hybrid before vs TexDSP"),
           ("hybrid_vs_texdsp", "hybrid vs TexDSP"), ("HYBRID_warm_texstat", "hybrid, bed warm-up TexStat"),
           ("warm_vs_texdsp", "hybrid, bed warm-up vs TexDSP"),
           ("HYBRID_free_texstat", "hybrid, no gain penalty TexStat"),
           ("free_vs_texdsp", "hybrid, no gain penalty vs TexDSP"), ("best_vs_texdsp", "best event model vs TexDSP"),
           ("HYBRID_gain", "hybrid event gain"), ("HYBRID_warm_gain", "warm-up event gain"),
           ("HYBRID_free_gain", "no-penalty event gain"),
           ("TexDSP_val", "TexDSP val."), ("HYBRID_val", "hybrid val."), ("HYBRID_warm_val", "warm-up val."),
           ("HYBRID_warm_floor_ratio", "warm-up to ÷ between"), ("HYBRID_warm_kurt", "warm-up kurtosis"),
           ("HYBRID_warm_lts", "warm-up worst 1/3-oct dB"),
           ("TexDSP_floor", "TexDSP between inference seeds"), ("HYBRID_floor", "hybrid between inference seeds"),
           ("TexDSP_floor_ratio", "TexDSP to ÷ between"), ("HYBRID_floor_ratio", "hybrid to ÷ between"),
           ("PVAE_floor_ratio", "P-VAE to ÷ between"),
           ("TexDSP_fad", "TexDSP FAD"), ("PVAE_fad", "P-VAE FAD"), ("HYBRID_before_fad", "hybrid before FAD"),
           ("HYBRID_fad", "hybrid FAD"),
           ("kurt_orig", "env. kurtosis original"), ("TexDSP_kurt", "TexDSP kurtosis"),
           ("PVAE_kurt", "P-VAE kurtosis"), ("HYBRID_before_kurt", "hybrid before kurtosis"),
           ("HYBRID_kurt", "hybrid kurtosis"),
           ("TexDSP_lts", "TexDSP worst 1/3-oct dB"), ("PVAE_lts", "P-VAE worst 1/3-oct dB"),
           ("HYBRID_before_lts", "hybrid before worst 1/3-oct dB"),
           ("HYBRID_noise_lts", "hybrid noise grains worst 1/3-oct dB"),
           ("HYBRID_lts", "hybrid worst 1/3-oct dB"), ("TexDSP_seconds", "TexDSP s"), ("PVAE_seconds", "P-VAE s"),
           ("HYBRID_seconds", "hybrid s")]


SUMMARY_HEADER = ("| texture | own variability | TexDSP | P-VAE | hybrid before | hybrid, noise grains | hybrid, "
                  "no gain penalty (vs TexDSP, gain) | **hybrid** (gain) | **hybrid vs TexDSP** | hybrid, bed "
                  "warm-up (vs TexDSP) | worst 1/3 oct. TexDSP / hybrid / warm-up |")
LABELS = {"raindrops": "rain drops (procedural)", "applause": "applause (procedural)", "fire": "fire (procedural)",
          "train": "train clatter (recording)", "amazon-rainforest": "rainforest (recording, stationary)"}


def _change(text: str) -> str:
    """A recorded change ("-29 %") with a true minus sign, and no sign on zero."""
    return "0 %" if text in ("-0 %", "+0 %") else text.replace("-", "−")


def summary_table(rows: list[dict]) -> list[str]:
    """The README's digest of the full table: TexStat of each architecture and hybrid variant per texture."""
    lines = [SUMMARY_HEADER, "|" + "---|" * (SUMMARY_HEADER.count(" | ") + 1)]
    for r in rows:
        lines.append(
            f"| {LABELS.get(r['texture'], r['texture'])} | {r['own']:.2f} | {r['TexDSP_texstat']:.2f} | "
            f"{r['PVAE_texstat']:.2f} | {r['HYBRID_before_texstat']:.2f} | {r['HYBRID_noise_texstat']:.2f} | "
            f"{r['HYBRID_free_texstat']:.2f} ({_change(r['free_vs_texdsp'])}, {r['HYBRID_free_gain']:.2f}) | "
            f"**{r['HYBRID_texstat']:.2f}** ({r['HYBRID_gain']:.3f}) | **{_change(r['hybrid_vs_texdsp'])}** | "
            f"{r['HYBRID_warm_texstat']:.2f} ({_change(r['warm_vs_texdsp'])}) | {r['TexDSP_lts']:.1f} / "
            f"{r['HYBRID_lts']:.1f} / {r['HYBRID_warm_lts']:.1f} dB |")
    return lines
