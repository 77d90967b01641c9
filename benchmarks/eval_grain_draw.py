"""Why the P-VAE did not learn, and what its grains need: frame TexStat split into its five statistics.

    python -m benchmarks.eval_grain_draw            # ≈ 2 min on one thread

Chapter 6's P-VAE (40 s of procedural rain drops at 20/s, L = 16384 at 22.05 kHz) is trained twice in one run:
``vae_grain_draw = "mixture"`` (before: each event sounds the decoder's softmax blend of dictionary grains) and
``"atom"`` (after: each event sounds one dictionary grain drawn from the blend's weights).  On 12 s of held-out
drops (frames of L, hop L/2) it reports, per statistic S1…S5 and weighted as in the loss, the TexStat between:

* the recording's frames and themselves four hops later (the floor: another stretch of the same texture);
* the model's frames and the recording's; two draws of the model's events (the model's own spread);
* the blended model's controls with grains placed otherwise: one dictionary grain per event at random
  (uniform over the dictionary), and each grain type's single most likely dictionary grain (one-hot).

The training rows give the validation loss before training and its best (the chapter's "learns" claim).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

import ddsp_textures.models.pvae as pvae_model
from ddsp_textures.dsp.framing import frame_signal, zscore
from ddsp_textures.stats.texstat import STAT_NAMES, TexStat
from ddsp_textures.synths.events import place_grains, relaxed_events
from ddsp_textures.synths.pvae import GAIN_RANGE_DB
from ddsp_textures.textures import make_texture
from ddsp_textures.threads import set_threads
from ddsp_textures.training.config import parse_config
from ddsp_textures.training.rundir import load_history, load_run
from ddsp_textures.training.trainer import train

from .common import write_results

FS, L = 22050, 16384


def config(draw: str, workdir: str) -> dict:
    """Chapter 6's P-VAE, full mode."""
    return {"architecture": "PVAE", "audio_path": "procedural:raindrops?seconds=40&rate=20",
            "sampling_rate": FS, "frame_size": L, "hop_size": L // 2, "sequence_length": 4,
            "features_list": ["energy_bands", "centroid", "events"], "hidden_size_enc": 64, "hidden_size_dec": 64,
            "N_filter_bank": 16, "M_filter_bank": 6, "atoms_number": 4, "vae_grain_size": 1024,
            "vae_param_per_env": 32, "vae_epochs": 30, "batch_size": 4, "epochs": 14, "learning_rate": 0.003,
            "seed": 0, "vae_grain_draw": draw, "device": "cpu", "models_directory": workdir, "run_name": draw}


def row(label: str, measure: TexStat, x: torch.Tensor, y: torch.Tensor, **extra: object) -> dict:
    d = measure.distances(x, y)
    out = {"case": label, "texstat": float(measure.weighted(d))}
    out.update({name: float(v) for name, v in zip(STAT_NAMES, d.mean(0), strict=True)})
    return {**out, **extra}


def one_grain_per_event(vae, rate, alpha, latents, n, relaxed=True, temperature=0.3, generator=None,
                        circular=True, straight_through=False):
    """The blended model's events, each placed as one dictionary grain drawn uniformly (no band gains)."""
    size = vae.dictionary.shape[0]
    grains = (vae.dictionary * vae.window).expand(*rate.shape, size, -1)
    per_type = (rate / size).unsqueeze(-1).expand(*rate.shape, size)
    a = alpha.unsqueeze(-1).expand(*alpha.shape, size)
    return place_grains(relaxed_events(per_type, a, n, vae.fs, temperature, generator, straight_through), grains)


def one_hot_decode(vae):
    """``vae.decode`` with each latent's single most likely dictionary grain instead of the blend."""
    def decode(z: torch.Tensor) -> torch.Tensor:
        h = vae.decoder(z)
        logits = vae.to_choice(h)
        choice = torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
        gains = torch.pow(10.0, GAIN_RANGE_DB / 20 * torch.tanh(vae.to_gains(h)))
        return vae.bank.apply_band_gains(choice @ vae.dictionary, gains) * vae.window
    return decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    set_threads(default=1)                       # as chapter 6 runs it (the grain dictionary depends on it)
    x = torch.tensor(make_texture("raindrops", 12.0, FS, seed=42, rate=20), dtype=torch.float32)
    frames = zscore(frame_signal(x, L, L // 2))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for draw in ("mixture", "atom"):
            start = time.perf_counter()
            run = train(parse_config(config(draw, tmp)), progress=False)
            seconds = time.perf_counter() - start
            history = load_history(run)
            model, _ = load_run(run)
            model.eval()
            measure = TexStat.for_bank(model.bank, 6)
            before, best = history["val_loss"][0], min(history["val_loss"][1:])
            label = {"mixture": "blended grains (before)", "atom": "one drawn grain per event (after)"}[draw]
            training = {"validation_before": before, "validation_best": best, "train_s": seconds}
            with torch.no_grad():
                feats = model.features(frames.unsqueeze(0))
                torch.manual_seed(0)
                first = model(feats)[0]
                torch.manual_seed(1)
                second = model(feats)[0]
                if draw == "mixture":
                    rows.append(row("recording, 4 hops apart (floor)", measure, frames[:-4], frames[4:]))
                rows.append(row(f"model: {label}", measure, first, frames, **training))
                rows.append(row(f"two draws of the model: {label}", measure, first, second))
                if draw == "mixture":
                    weights = torch.softmax(model.vae.to_choice(model.vae.decoder(model.controls(feats).latents)), -1)
                    original, decode = pvae_model.pvae_synthesis, model.vae.decode
                    try:
                        pvae_model.pvae_synthesis = one_grain_per_event
                        torch.manual_seed(0)
                        rows.append(row("blended model's events, one random dictionary grain each", measure,
                                        model(feats)[0], frames))
                        pvae_model.pvae_synthesis = original
                        model.vae.decode = one_hot_decode(model.vae)
                        torch.manual_seed(0)
                        rows.append(row("blended model, each type's most likely grain (one-hot)", measure,
                                        model(feats)[0], frames, largest_weight=float(weights.amax(-1).mean())))
                    finally:
                        pvae_model.pvae_synthesis, model.vae.decode = original, decode
    columns = [("case", "case"), ("texstat", "frame TexStat"), *[(s, s) for s in STAT_NAMES],
               ("validation_before", "validation before training"), ("validation_best", "best validation"),
               ("largest_weight", "mean largest blend weight"), ("train_s", "training (s)")]
    write_results("grain_draw", "P-VAE grains: blended or drawn, frame TexStat by statistic", rows, columns,
                  notes="Weights of S1…S5 in the loss: 1, 20, 20, 20, 20. 12 s of held-out procedural rain drops.")


if __name__ == "__main__":
    main()
