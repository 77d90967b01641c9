"""Which encoder features (and which frame-aligned regulariser) bring a trained TexDSP closer to a recording.

    python -m benchmarks.eval_model_features                    # train.ogg, 30 epochs, 2 training processes
    python -m benchmarks.eval_model_features --audio water.flac --epochs 60
    python -m benchmarks.eval_model_features --all              # eval_quality's 7 textures, before/after

Each variant trains ``eval_quality.py``'s short TexDSP config (20-s excerpt from second 10, L = 32768, N = 16,
param_per_env = 256, 30 epochs) with other ``features_list`` / ``regularizers_list`` and resynthesises the excerpt
(whole frames, the default, and overlap-added frames).  Two *oracle* rows put the DSP analysis of each frame
through the same synth: what the model's inference could reach with perfect envelopes.  Columns: frame TexStat
``TexStat(32768, 44100, 16, 6)``, worst 1/3-octave long-term-spectrum deviation, and the spectrogram of the first
6 s of each variant in ``results/model_features.png`` — look at it: on the train every variant without the
``band_shapes`` regulariser renders a periodic comb of all-band dips that TexStat, whose modulation bands start at
10 Hz, does not penalise.

``--all`` trains eval_quality's config (*before*), the same with the ``band_shapes`` feature and regulariser, and
that with ``positive_dc`` on each of eval_quality's textures (the recordings and the procedural fire, applause,
rain drops and wind) and writes ``results/model_features_all.md``.
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ddsp_textures.dsp.audio import audio_files, load_audio, save_audio
from ddsp_textures.dsp.framing import (  # noqa: E402,E501
    half_overlap_frames,
    join_model_frames,
    overlap_add,
    random_shifts,
    wrap_pad,
    zscore,
)
from ddsp_textures.dsp.spectral import long_term_spectrum
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.metrics import describe_resynthesis, frame_distance
from ddsp_textures.models import TexDSP
from ddsp_textures.plotting import spectrogram
from ddsp_textures.stats.features import band_loudness
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths import texenv_analysis, texenv_resynthesize
from ddsp_textures.textures import make_texture
from ddsp_textures.threads import set_threads
from ddsp_textures.training.rundir import load_run
from ddsp_textures.training.trainer import train

from .common import RESULTS, write_results
from .eval_quality import FS, MODEL_SETTINGS, PROCEDURAL, RECORDINGS, L, short_config

BASE = ["energy_bands", "centroid", "rate"]
VARIANTS = {
    "energy_bands, centroid, rate (eval_quality's config)": {"features_list": BASE},
    "+ statistics": {"features_list": BASE + ["statistics"]},
    "+ band_shapes, band_shapes regulariser ×20": {"features_list": BASE + ["band_shapes"],
                                                    "regularizers_list": ["band_shapes"], "regularizer_weight": 20},
    "+ statistics, band_shapes, band_shapes regulariser ×20": {
        "features_list": BASE + ["statistics", "band_shapes"], "regularizers_list": ["band_shapes"],
        "regularizer_weight": 20},
    "positive_dc": {"features_list": BASE, "positive_dc": True},
    "positive_dc, + band_shapes, band_shapes regulariser ×20": MODEL_SETTINGS,      # eval_quality's model rows
}


def train_variant(args: tuple[int, str, dict, np.ndarray, int, str]) -> dict:
    index, name, overrides, audio, epochs, workdir = args
    set_threads(default=1)
    wav = Path(workdir) / f"excerpt{index}.wav"
    save_audio(wav, audio, FS)
    texture = overrides.pop("texture", None)
    config = {**short_config(wav, epochs, Path(workdir), f"variant{index}"), **overrides}
    model, _ = load_run(train(config, progress=False))
    x = torch.tensor(audio)
    y = resynthesize(model, x)
    return {"variant": name, "texture": texture, "audio": y, **describe(x, y),
            "texstat_ola": frame_distance(TexStat(L, FS, 16, 6), x, torch.tensor(resynthesize(
                model, x, joining="overlap_add")))}


def describe(x: torch.Tensor, y: np.ndarray | torch.Tensor) -> dict[str, float]:
    return describe_resynthesis(x, torch.as_tensor(y).float(), TexStat(L, FS, 16, 6))


def oracles(x: torch.Tensor) -> list[dict]:
    """The DSP analysis of each frame through a TexDSP synth (carriers shaped by the excerpt's spectrum) with the
    model's whole-frame inference and with overlap-added half-overlapping frames."""
    model = TexDSP(BASE, L, FS, 16, 256)
    model.synth.shape_carriers(long_term_spectrum(x.double(), L), torch.Generator().manual_seed(0))
    n = -(-len(x) // L)
    whole = wrap_pad(x, n * L).reshape(n, L)
    shifts = random_shifts(n, L, torch.Generator().manual_seed(0), hop=L)
    coeffs = texenv_analysis(zscore(whole), model.bank, 128)
    y_whole = join_model_frames(model.synth(coeffs, "specific", band_loudness(whole, model.bank), shifts), FS,
                                rotate=False)       # measured without rotation (model_features.md)
    halves = half_overlap_frames(x, L)
    shifts = random_shifts(halves.shape[0], L, torch.Generator().manual_seed(0), hop=L // 2)
    coeffs = texenv_analysis(zscore(halves), model.bank, 128)
    y_ola = overlap_add(model.synth(coeffs, "specific", band_loudness(halves, model.bank), shifts), L // 2, "sqrt_hann")
    return [{"variant": "oracle: DSP analysis, whole frames", **describe(x, y_whole[: len(x)])},
            {"variant": "oracle: DSP analysis, overlap-added frames", **describe(x, y_ola[: len(x)])}]


REGULARISED = "+ band_shapes, band_shapes regulariser ×20"
POSITIVE = "positive_dc, + band_shapes, band_shapes regulariser ×20"


def all_textures(args: argparse.Namespace) -> None:
    """Before (eval_quality's config) / the band_shapes regulariser / the same with ``positive_dc`` on every
    texture."""
    sounds = {p.stem: load_audio(p, FS)[10 * FS: 30 * FS] for p in audio_files(RECORDINGS)}
    sounds.update({name: make_texture(name, 20.0, FS, seed=11) for name in PROCEDURAL})
    chosen = (next(iter(VARIANTS)), REGULARISED, POSITIVE)
    pairs = [(texture, name) for texture in sounds for name in chosen]
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs) as pool:
        jobs = [(i, name, {"texture": texture, **VARIANTS[name]},
                 np.ascontiguousarray(sounds[texture], dtype=np.float32), args.epochs, tmp)
                for i, (texture, name) in enumerate(pairs)]
        results = list(pool.map(train_variant, jobs))
    rows = []
    for texture in sounds:
        before, after, positive = (r for r in results if r["texture"] == texture)
        rows.append({"texture": texture, "before": before["texstat"], "after": after["texstat"],
                     "change": f"{100 * (after['texstat'] / before['texstat'] - 1):+.0f} %",
                     "positive": positive["texstat"],
                     "change_positive": f"{100 * (positive['texstat'] / before['texstat'] - 1):+.0f} %",
                     "lts_before": before["lts"], "lts_after": after["lts"], "lts_positive": positive["lts"]})
    columns = [("texture", "texture"), ("before", "TexStat before"), ("after", "regulariser"),
               ("change", "change"), ("positive", "regulariser + positive_dc"), ("change_positive", "change"),
               ("lts_before", "worst 1/3 oct. dB before"), ("lts_after", "regulariser"),
               ("lts_positive", "regulariser + positive_dc")]
    notes = (f"20-s excerpts (recordings from second 10, procedural seed 11) at {FS} Hz; TexDSP trained "
             f"{args.epochs} epochs on each (seed 0), resynthesised with whole frames; before: eval_quality.py's "
             f"config; regulariser: {REGULARISED}; + positive_dc: the same with the config key positive_dc.")
    write_results("model_features_all", "Trained TexDSP: the band_shapes regulariser and positive_dc on every "
                  "texture", rows, columns, notes=notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", default="train.ogg", help="file in ../shared/recordings (or a path)")
    parser.add_argument("--all", action="store_true", help="eval_quality's textures, before/after regulariser")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    set_threads(default=1)
    if args.all:
        all_textures(args)
        return
    path = Path(args.audio) if Path(args.audio).exists() else RECORDINGS / args.audio
    audio = np.ascontiguousarray(load_audio(path, FS)[10 * FS: 30 * FS], dtype=np.float32)
    x = torch.tensor(audio)
    dsp = texenv_resynthesize(x.double(), TexDSP(BASE, L, FS, 16, 256).bank, 256, transients=False,
                              generator=torch.Generator().manual_seed(0)).float()
    rows = [{"variant": "DSP resynthesis (TexEnv, no layer)", "audio": dsp.numpy(), **describe(x, dsp)}]
    rows += oracles(x)
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs) as pool:
        jobs = [(i, name, cfg, audio, args.epochs, tmp) for i, (name, cfg) in enumerate(VARIANTS.items())]
        rows += list(pool.map(train_variant, jobs))
    shown = [("original", audio)] + [(r["variant"], r["audio"]) for r in rows if "audio" in r]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 2.3 * len(shown)))
    for ax, (title, signal) in zip(axes, shown, strict=True):
        spectrogram(ax, signal[: 6 * FS], FS, title)
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    fig.savefig(RESULTS / "model_features.png", dpi=60)
    for row in rows:
        row.pop("audio", None)
    columns = [("variant", "variant"), ("texstat", "frame TexStat (whole frames)"),
               ("texstat_ola", "frame TexStat (overlap-added)"), ("lts", "worst 1/3 oct. dB")]
    notes = (f"{path.name}, 20 s from second 10 at {FS} Hz; TexDSP trained {args.epochs} epochs on it "
             f"(eval_quality.py's short config, seed 0) with the features and regularisers named; "
             f"spectrograms: results/model_features.png.")
    write_results("model_features", "Trained TexDSP: features and regularisers", rows, columns, notes=notes)


if __name__ == "__main__":
    main()
