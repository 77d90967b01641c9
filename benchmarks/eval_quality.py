"""Quality of TexEnv DSP resynthesis and of statistics-matching synthesis, on procedural textures or on
any folder of audio files.

    python benchmarks/eval_quality.py                      # the five procedural textures
    python benchmarks/eval_quality.py --audio my_sounds/    # every WAV/FLAC file of a folder is one texture
    python benchmarks/eval_quality.py --quick               # short audio, fewer steps

For each texture and each (N, param_per_env) of the grid: frame-level TexStat and multi-scale spectral (MSS)
distances between original and resynthesis (mean ± std over frames), and FAD / KAD on TexStat (S1–S3)
embeddings.  The training-free baseline synthesises a frame by gradient descent on the TexStat loss
(``ddsp_textures.matching.match_statistics``) and reports its distance to the target frame and to a held-out
frame of the same texture; for reference, the distance between two different original frames is given too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

from ddsp_textures.data import AUDIO_SUFFIXES, load_audio, zscore  # noqa: E402
from ddsp_textures.filterbanks import erb_bank  # noqa: E402
from ddsp_textures.matching import match_statistics  # noqa: E402
from ddsp_textures.metrics import frame_audio, frechet_distance, kernel_distance, texstat_embeddings  # noqa: E402
from ddsp_textures.spectral import multiscale_spectral_loss  # noqa: E402
from ddsp_textures.synths import make_seed, texenv_resynthesize  # noqa: E402
from ddsp_textures.texstat import TexStat  # noqa: E402
from ddsp_textures.textures import TEXTURES, make_texture  # noqa: E402


def frame_distances(measure: TexStat, a: torch.Tensor, b: torch.Tensor) -> tuple[list[float], list[float]]:
    ts, mss = [], []
    for x, y in zip(zscore(a), zscore(b), strict=True):
        ts.append(float(measure(x[None], y[None])))
        mss.append(float(multiscale_spectral_loss(x[None], y[None])))
    return ts, mss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio", type=Path, help="folder of audio files (default: procedural textures)")
    parser.add_argument("--fs", type=int, default=44100)
    parser.add_argument("--frame", type=int, default=32768)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each procedural texture")
    parser.add_argument("--steps", type=int, default=150, help="statistics-matching iterations")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.steps, args.frame = 6.0, 20, 16384
    if args.audio:
        files = sorted(p for p in args.audio.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            sys.exit(f"error: no audio files in {args.audio}")
        sounds = {p.stem: load_audio(p, args.fs) for p in files}
    else:
        sounds = {name: make_texture(name, args.seconds, args.fs, seed=11) for name in TEXTURES}
    length = args.frame
    measure = TexStat(length, args.fs, 16, 6, beta=(1, 1, 1, 1, 1))
    grid = [(16, 256), (16, 512), (24, 256), (24, 512)]
    rows = []
    for name, audio in sounds.items():
        if len(audio) < 3 * length:
            print(f"skipping {name}: shorter than 3 frames")
            continue
        x = torch.tensor(audio)
        original = frame_audio(x, length, length // 2)
        emb_orig = texstat_embeddings(original, measure)
        for n, ppe in grid:
            bank = erb_bank(length, args.fs, n)
            seed = make_seed(bank, torch.Generator().manual_seed(0))
            y = texenv_resynthesize(x, bank, ppe, seed, generator=torch.Generator().manual_seed(0))
            resynth = frame_audio(y, length, length // 2)
            ts, mss = frame_distances(measure, original, resynth)
            emb = texstat_embeddings(resynth, measure)
            row = {"texture": name, "method": f"TexEnv N={n} ppe={ppe}",
                   "texstat": f"{np.mean(ts):.2f} ± {np.std(ts):.2f}", "mss": f"{np.mean(mss):.2f} ± {np.std(mss):.2f}",
                   "fad": frechet_distance(emb_orig, emb), "kad": kernel_distance(emb_orig, emb)}
            rows.append(row)
            print(row, flush=True)
        # statistics matching on the first frame; held-out = a frame at least one frame away
        target, held_out = zscore(original[0]), zscore(original[2])
        ts_ref, mss_ref = frame_distances(measure, original[0:1], original[2:3])
        rows.append({"texture": name, "method": "original frame vs held-out frame",
                     "texstat": f"{ts_ref[0]:.2f}", "mss": f"{mss_ref[0]:.2f}"})
        for mode in ("texenv", "waveform"):
            result = match_statistics(target, measure, mode, steps=args.steps,
                                      generator=torch.Generator().manual_seed(0))
            ts_t, mss_t = frame_distances(measure, target[None], result.audio[None])
            ts_h, mss_h = frame_distances(measure, held_out[None], result.audio[None])
            row = {"texture": name, "method": f"statistics matching ({mode}, {args.steps} steps)",
                   "texstat": f"{ts_t[0]:.2f} (held-out {ts_h[0]:.2f})",
                   "mss": f"{mss_t[0]:.2f} (held-out {mss_h[0]:.2f})"}
            rows.append(row)
            print(row, flush=True)
    columns = [("texture", "texture"), ("method", "method"), ("texstat", "TexStat"), ("mss", "MSS"),
               ("fad", "FAD (S1–S3)"), ("kad", "KAD")]
    source = str(args.audio) if args.audio else "procedural textures"
    write_results("quality" + ("_quick" if args.quick else ""), "Resynthesis quality", rows, columns,
                  notes=f"Audio: {source} at {args.fs} Hz; frames of {length} (hop {length // 2}); TexStat N=16, M=6, "
                  "α=(10, 1, 0.1, 0.01), β=1; FAD/KAD on TexStat S1–S3 embeddings of the frames.")


if __name__ == "__main__":
    main()
