"""TexDSP vs P-VAE vs hybrid (TexEnv bed + P-VAE events) on event textures and a stationary one.

    python benchmarks/eval_quality.py --event-models           # the table (≈ 20 min on 2 CPU cores)
    python benchmarks/eval_quality.py --event-models --quick   # a smoke test, not a result

Each texture is a 20-s excerpt (recordings from second 10, resampled to 22.05 kHz) or 20 s of a procedural
texture.  The three architectures get the same encoder inputs (energy bands, centroid, onset rate, event
rate), frames (L = 16384, hop L/2, sequences of 4), loss (``TexStat(16384, 22050, 16, 6)``), optimiser and
number of epochs; each is trained on the excerpt and resynthesises it with its own features.  Columns:
frame-aligned TexStat against the original (lower is better; compare with the own variability), FAD on
TexStat S1–S3 embeddings, worst 1/3-octave long-term-spectrum deviation (100 Hz–10 kHz) and the mean
envelope kurtosis of the output next to the original's (the peakiness TexEnv smears).  Results are means over
``--repeats`` training seeds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ddsp_textures import metrics
from ddsp_textures.data import save_audio
from ddsp_textures.filterbanks import erb_bank
from ddsp_textures.framing import frame_signal
from ddsp_textures.metrics import frame_distance, frechet_distance, texstat_embeddings, third_octave_deviation_db
from ddsp_textures.resynthesis import resynthesize
from ddsp_textures.rundir import load_history, load_run
from ddsp_textures.texstat import TexStat
from ddsp_textures.training import train

FS, L = 22050, 16384
ARCHITECTURES = ("TexDSP", "PVAE", "HYBRID")
EVENT_TEXTURES = ("raindrops", "applause", "fire", "train")
STATIONARY = ("amazon-rainforest",)


def config(architecture: str, wav: Path, epochs: int, seed: int, workdir: Path) -> dict:
    return {"architecture": architecture, "audio_path": str(wav), "sampling_rate": FS, "frame_size": L,
            "hop_size": L // 2, "sequence_length": 4, "features_list": ["energy_bands", "centroid", "rate", "events"],
            "hidden_size_enc": 64, "hidden_size_dec": 128, "param_per_env": 128, "N_filter_bank": 16,
            "M_filter_bank": 6, "atoms_number": 4, "vae_grain_size": 1024, "vae_param_per_env": 32,
            "vae_epochs": 30, "batch_size": 4, "epochs": epochs, "learning_rate": 2e-3, "seed": seed,
            "device": "cpu", "models_directory": str(workdir), "run_name": f"{wav.stem}_{architecture}_{seed}"}


def envelope_kurtosis(x: torch.Tensor) -> float:
    return metrics.envelope_kurtosis(x, erb_bank(L, FS, 16))


def evaluate(sounds: dict[str, np.ndarray], epochs: int, repeats: int, workdir: Path) -> list[dict]:
    measure = TexStat(L, FS, 16, 6)
    rows = []
    for name, audio in sounds.items():
        x = torch.tensor(np.ascontiguousarray(audio, dtype=np.float32))
        wav = workdir / f"{name}.wav"
        save_audio(wav, audio, FS)
        emb_x = texstat_embeddings(frame_signal(x, L, L // 2), measure)
        row = {"texture": name, "kind": "stationary" if name in STATIONARY else "event",
               "own": frame_distance(measure, x[:-L], x[L:]), "kurt_orig": envelope_kurtosis(x)}
        for arch in ARCHITECTURES:
            runs = []
            for seed in range(repeats):
                start = time.perf_counter()
                run = train(config(arch, wav, epochs, seed, workdir), progress=False)
                model, _ = load_run(run)
                y = torch.tensor(resynthesize(model, audio, seed=seed))
                history = load_history(run)
                runs.append({"texstat": frame_distance(measure, x, y),
                             "fad": frechet_distance(emb_x, texstat_embeddings(frame_signal(y, L, L // 2), measure)),
                             "lts": float(np.abs(third_octave_deviation_db(x, y, FS, high=10000.0)).max()),
                             "kurt": envelope_kurtosis(y), "val": min(history["val_texstat"][1:]),
                             "seconds": time.perf_counter() - start})
            for key in runs[0]:
                row[f"{arch}_{key}"] = float(np.mean([r[key] for r in runs]))
            print(f"{name} {arch}: " + ", ".join(f"{k} {row[f'{arch}_{k}']:.3g}" for k in runs[0]), flush=True)
        if all(f"{arch}_texstat" in row for arch in ("TexDSP", "PVAE", "HYBRID")):
            best = min(row["PVAE_texstat"], row["HYBRID_texstat"])
            row["best_vs_texdsp"] = f"{100 * (best / row['TexDSP_texstat'] - 1):+.0f} %"
            row["hybrid_vs_texdsp"] = f"{100 * (row['HYBRID_texstat'] / row['TexDSP_texstat'] - 1):+.0f} %"
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return rows


COLUMNS = [("texture", "texture"), ("kind", "kind"), ("own", "own variability"),
           ("TexDSP_texstat", "TexDSP TexStat"), ("PVAE_texstat", "P-VAE TexStat"),
           ("HYBRID_texstat", "hybrid TexStat"), ("best_vs_texdsp", "best event model vs TexDSP"),
           ("hybrid_vs_texdsp", "hybrid vs TexDSP"),
           ("TexDSP_fad", "TexDSP FAD"), ("PVAE_fad", "P-VAE FAD"), ("HYBRID_fad", "hybrid FAD"),
           ("kurt_orig", "env. kurtosis original"), ("TexDSP_kurt", "TexDSP kurtosis"),
           ("PVAE_kurt", "P-VAE kurtosis"), ("HYBRID_kurt", "hybrid kurtosis"),
           ("TexDSP_lts", "TexDSP worst 1/3-oct dB"), ("PVAE_lts", "P-VAE worst 1/3-oct dB"),
           ("HYBRID_lts", "hybrid worst 1/3-oct dB"), ("TexDSP_seconds", "TexDSP s"), ("PVAE_seconds", "P-VAE s"),
           ("HYBRID_seconds", "hybrid s")]
