"""Does the P-VAE model's rate control mean something?  Truth vs estimator vs learned rate, with and without
rate supervision, in one run.

    python -m benchmarks.eval_event_rates            # ≈ 5 min on 2 CPU cores
    python -m benchmarks.eval_event_rates --quick    # a smoke test, not a result

For procedural rain drops at 5, 20 and 80 events/s, a P-VAE model (the book's config: 40 s of audio, L = 16384 at
22.05 kHz, features energy bands + centroid + events) is trained with ``rate_supervision`` 0 (*before*: TexStat
alone) and 1 (*after*: the default), and its mean rate control is read on 6 s of held-out drops.  Target: within
±25 % of the truth.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from ddsp_textures.dsp.framing import frame_signal, zscore
from ddsp_textures.stats.features import estimate_event_rate
from ddsp_textures.textures import make_texture
from ddsp_textures.training.config import parse_config
from ddsp_textures.training.rundir import load_history, load_run
from ddsp_textures.training.trainer import train

from .common import write_results

FS, L = 22050, 16384


def config(rate: float, supervision: float, epochs: int, seconds: float, workdir: str) -> dict:
    return {"architecture": "PVAE", "audio_path": f"procedural:raindrops?seconds={seconds:g}&rate={rate:g}",
            "sampling_rate": FS, "frame_size": L, "hop_size": L // 2, "sequence_length": 4,
            "features_list": ["energy_bands", "centroid", "events"], "hidden_size_enc": 64, "hidden_size_dec": 64,
            "N_filter_bank": 16, "M_filter_bank": 6, "atoms_number": 4, "vae_grain_size": 1024,
            "vae_param_per_env": 32, "vae_epochs": 30, "batch_size": 4, "epochs": epochs, "learning_rate": 0.003,
            "seed": 0, "rate_supervision": supervision, "device": "cpu", "models_directory": workdir,
            "run_name": f"rate{rate:g}_w{supervision:g}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    epochs, seconds = (2, 10.0) if args.quick else (args.epochs, 40.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in (5, 20, 80):
            held_out = make_texture("raindrops", 6.0, FS, seed=42, rate=rate)
            frames = zscore(frame_signal(held_out, L, L)).unsqueeze(0)
            row = {"rate": rate, "estimator": float(estimate_event_rate(torch.tensor(held_out), FS))}
            for label, weight in (("before", 0.0), ("after", 1.0)):
                start = time.perf_counter()
                run = train(parse_config(config(rate, weight, epochs, seconds, tmp)), progress=False)
                model, _ = load_run(run)
                with torch.no_grad():
                    controls = model.controls(model.features(frames))
                row[f"learned_{label}"] = float(controls.rate.mean())
                row[f"alpha_{label}"] = float(controls.alpha.mean())
                row[f"error_{label}"] = f"{100 * (row[f'learned_{label}'] / rate - 1):+.0f} %"
                row[f"val_{label}"] = min(load_history(run)["val_texstat"][1:])
                row[f"seconds_{label}"] = time.perf_counter() - start
            rows.append(row)
            print(row, flush=True)
    columns = [("rate", "true rate (events/s)"), ("estimator", "estimator"),
               ("learned_before", "learned, TexStat only"), ("error_before", "error"),
               ("learned_after", "learned, + rate supervision"), ("error_after", "error"),
               ("alpha_before", "α before"), ("alpha_after", "α after"),
               ("val_before", "best val TexStat before"), ("val_after", "best val TexStat after"),
               ("seconds_after", "train s")]
    notes = (f"P-VAE on {seconds:g} s of procedural rain drops at {FS} Hz, {epochs} epochs, frames of {L}; learned "
             f"rate = mean rate control on 6 s of held-out drops (seed 42). 'before': rate_supervision 0, "
             f"'after': rate_supervision 1 (the default).")
    write_results("event_rates" + ("_quick" if args.quick else ""), "Learned event rate vs truth", rows, columns,
                  notes=notes)


if __name__ == "__main__":
    main()
