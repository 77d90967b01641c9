"""TexEnv synthesis throughput (real-time factor) vs a per-band loop, and 60 s streaming synthesis.

    python benchmarks/bench_texenv.py [--quick]

Real-time factor (RTF) = seconds of audio produced per second of compute (higher is faster).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import sync, timeit, write_results  # noqa: E402

from ddsp_textures.filterbanks import erb_bank  # noqa: E402
from ddsp_textures.synths import make_seed, overlap_add, texenv_analysis, texenv_resynthesize, texenv_synthesis  # noqa: E402
from ddsp_textures.textures import make_texture  # noqa: E402

FS = 44100


def loop_synthesis(coeffs: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Baseline: one band at a time (the reference's TexEnv loop)."""
    length = seed.shape[-1]
    out = torch.zeros(coeffs.shape[0], length, device=seed.device)
    for n in range(seed.shape[0]):
        spec = torch.zeros(coeffs.shape[0], length // 2 + 1, dtype=coeffs.dtype, device=seed.device)
        spec[:, : coeffs.shape[-1]] = coeffs[:, n]
        out = out + torch.fft.irfft(spec, n=length, norm="ortho") * seed[n]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=16, help="frames per synthesis call")
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lengths = [8192] if args.quick else [32768, 65536]
    rows = []
    for dev in devices:
        device = torch.device(dev)
        for length in lengths:
            for n in (16, 24):
                bank = erb_bank(length, FS, n)
                seed = make_seed(bank, torch.Generator().manual_seed(0)).to(device)
                for ppe in (256, 512):
                    coeffs = torch.randn(args.batch, n, ppe // 2, dtype=torch.complex64, device=device)
                    torch.testing.assert_close(texenv_synthesis(coeffs, seed), loop_synthesis(coeffs, seed),
                                               rtol=1e-4, atol=1e-4)
                    audio_s = args.batch * length / FS
                    t_vec = timeit(lambda c=coeffs, s=seed: texenv_synthesis(c, s), device, repeat=5)
                    t_loop = timeit(lambda c=coeffs, s=seed: loop_synthesis(c, s), device, repeat=5)
                    row = {"task": "synthesis", "device": dev, "frame": length, "N": n, "param_per_env": ppe,
                           "rtf": audio_s / t_vec, "loop_rtf": audio_s / t_loop, "speedup": t_loop / t_vec}
                    rows.append(row)
                    print(row, flush=True)
        # streaming: 60 s of audio, frames of 32768 at hop L/2, synthesis + overlap-add from precomputed
        # coefficients, and the full DSP analysis -> energy match -> synthesis path
        seconds = 10.0 if args.quick else 60.0
        length = 32768
        bank = erb_bank(length, FS, 16).to(device)
        seed = make_seed(bank, torch.Generator().manual_seed(0)).to(device)
        x = torch.tensor(make_texture("rain", seconds=seconds, fs=FS, seed=0), device=device)
        frames = x[: (len(x) - length) // (length // 2) * (length // 2) + length].unfold(0, length, length // 2)
        coeffs = texenv_analysis(frames, bank, 128)

        shifts = torch.randint(0, length, (len(frames),), generator=torch.Generator().manual_seed(0))

        def stream(c: torch.Tensor = coeffs, s: torch.Tensor = seed, k: torch.Tensor = shifts,
                   hop: int = length // 2) -> None:
            overlap_add(texenv_synthesis(c, s, shifts=k), hop, "sqrt_hann")

        t_stream = timeit(stream, device, repeat=3)
        sync(device)
        start = time.perf_counter()
        texenv_resynthesize(x, bank, 256, seed, match_energy=True, generator=torch.Generator().manual_seed(0))
        sync(device)
        t_full = time.perf_counter() - start
        tasks = (("streaming synthesis 60 s", t_stream), ("DSP resynthesis 60 s (analysis+match+synth)", t_full))
        for task, t in tasks:
            row = {"task": task.replace("60", f"{seconds:g}"), "device": dev, "frame": length, "N": 16,
                   "param_per_env": 256, "rtf": seconds / t}
            rows.append(row)
            print(row, flush=True)
    columns = [("task", "task"), ("device", "device"), ("frame", "frame"), ("N", "N"),
               ("param_per_env", "param_per_env"),
               ("rtf", "RTF (library)"), ("loop_rtf", "RTF (per-band loop)"), ("speedup", "speed-up")]
    write_results("texenv" + ("_quick" if args.quick else ""), "TexEnv synthesis throughput", rows, columns,
                  notes=f"Batches of {args.batch} frames at 44.1 kHz; RTF = audio seconds per compute second "
                  "(median of 5 runs); speed-up = loop time / library time in the same run.")


if __name__ == "__main__":
    main()
