"""Does a trained TexDSP model reach the DSP ceiling with longer training?  (issue "Sound like the recording")

For each real recording (20-s excerpts from second 10, as in ``eval_quality.py``) one TexDSP run is trained with
the ``eval_quality.py`` config and resumed with ``retrain --epochs`` to each epoch count in ``--epochs``; after each
stage its resynthesis is measured with the same frame-aligned TexStat as the DSP resynthesis (TexEnv analysis →
synthesis, the model's ceiling: what the decoder has to predict).  Resuming is exact (tested), so the stages are
one run.

    python -m benchmarks.eval_training_length [--epochs 30 60 120] [--threads 1]
    python -m benchmarks.eval_training_length --train-seconds 60 --epochs 40   # more audio per model

With ``--train-seconds`` the model is trained on a longer excerpt (from second 5) that contains the evaluated
20-s excerpt (from second 10).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ddsp_textures.dsp.audio import audio_files, load_audio, save_audio
from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.metrics import frame_distance, third_octave_deviation_db
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths import texenv_resynthesize
from ddsp_textures.training.rundir import load_history, load_run
from ddsp_textures.training.trainer import retrain, train

from .common import write_results

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT.parent / "shared" / "recordings"
FS, L = 44100, 32768


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="+", default=[30, 60, 120])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--train-seconds", type=float, default=None, help="training excerpt (default: --seconds)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--audio", type=Path, default=RECORDINGS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    measure, bank = TexStat(L, FS, 16, 6), erb_bank(L, FS, 16)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in audio_files(args.audio):
            full = load_audio(path, FS)
            start = int(min(10.0, max(0.0, len(full) / FS - args.seconds)) * FS)
            audio = full[start:start + int(args.seconds * FS)]
            if args.train_seconds:
                t0 = int(min(5.0, max(0.0, len(full) / FS - args.train_seconds)) * FS)
                training_audio = full[t0:t0 + int(args.train_seconds * FS)]
            else:
                training_audio = audio
            x = torch.tensor(audio)
            dsp = np.mean([frame_distance(measure, x, texenv_resynthesize(
                x.double(), bank, 256, generator=torch.Generator().manual_seed(s))) for s in range(3)])
            own = frame_distance(measure, x[:-L], x[L:])
            wav = Path(tmp) / f"{path.stem}.wav"
            save_audio(wav, training_audio, FS)
            config = {"audio_path": str(wav), "frame_size": L, "hop_size": L // 2, "sampling_rate": FS,
                      "sequence_length": 2, "features_list": ["energy_bands", "centroid", "rate"],
                      "hidden_size_enc": 64, "hidden_size_dec": 128, "param_per_env": 256, "N_filter_bank": 16,
                      "M_filter_bank": 6, "batch_size": 4, "epochs": args.epochs[0], "learning_rate": 2e-3,
                      "seed": 0, "models_directory": tmp, "run_name": f"run_{path.stem}", "device": "cpu"}
            started = time.perf_counter()
            run = None
            for epochs in args.epochs:
                run = train(config, progress=False) if run is None else retrain(run, epochs=epochs, progress=False)
                model, _ = load_run(run)
                y = torch.tensor(resynthesize(model, audio))
                history = load_history(run)
                row = {"recording": path.stem, "train_s_audio": len(training_audio) / FS, "epochs": epochs,
                       "own": own, "dsp": dsp,
                       "model": frame_distance(measure, x, y),
                       "model_lts": float(np.abs(third_octave_deviation_db(x, y, FS)).max()),
                       "best_val": min(history["val_loss"]), "last_val": history["val_loss"][-1],
                       "train_s": time.perf_counter() - started}
                row["ratio"] = row["model"] / dsp
                rows.append(row)
                print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    columns = [("recording", "recording"), ("train_s_audio", "training audio (s)"), ("epochs", "epochs"),
               ("own", "own variability"),
               ("dsp", "DSP resynthesis"), ("model", "trained TexDSP"), ("ratio", "model / DSP"),
               ("model_lts", "model worst 1/3-oct dB"), ("best_val", "best val. loss"),
               ("last_val", "last val. loss"), ("train_s", "training s (cumulative)")]
    name = "training_length" + ("_more_audio" if args.train_seconds else "")
    write_results(name, "Trained TexDSP against the DSP ceiling, by training length", rows, columns,
                  notes=f"{args.seconds:g}-s excerpts at {FS} Hz; frames of {L}; TexStat(32768, 44100, 16, 6), "
                  f"default α, β, frame-aligned; DSP: mean of 3 carrier seeds; {args.threads} thread(s).")


if __name__ == "__main__":
    main()
