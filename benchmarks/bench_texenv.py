"""TexEnv synthesis and analysis throughput (real-time factor), before and after, and 60 s streaming synthesis.

"Before" is the first release (kept here): synthesis of all ``(B, N, L)`` bands at once, analysis through
time-domain subbands and a separate Hilbert transform.  Also shown: the reference's per-band loop, and the
second release's synthesis in cache-sized blocks of items × bands (still the library's path for per-band
loudness).  "After" is the library: band-limited synthesis (``synths/bandlimited.py``: each band's product on
a short grid, one output FFT per frame), analysis from one inverse FFT of the one-sided band spectra
(``FilterBank.envelopes``); "fwd+bwd" rows time synthesis with its backward pass, as in training.

    python -m benchmarks.bench_texenv [--quick] [--threads 1]

Real-time factor (RTF) = seconds of audio produced per second of compute (higher is faster).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ddsp_textures.dsp.envelopes import hilbert_envelope
from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.synths import make_carriers, overlap_add, texenv_analysis, texenv_resynthesize, texenv_synthesis
from ddsp_textures.synths.texenv import envelopes_from_coefficients, synthesis_blocks
from ddsp_textures.textures import make_texture

from .common import peak_rss_mb, run_worker, sync, timeit, write_results

FS = 44100


def before_synthesis(coeffs: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """The previous release: every band of every item at once, ``(B, N, L)``."""
    bands = torch.fft.irfft(coeffs, n=seed.shape[-1], dim=-1, norm="ortho")
    return bands.mul_(seed).sum(-2)


def before_analysis(x: torch.Tensor, bank, n_coeffs: int) -> torch.Tensor:
    """The previous release: time-domain subbands, then the Hilbert envelope (fft + ifft), then rfft."""
    return torch.fft.rfft(hilbert_envelope(bank(x)), dim=-1, norm="ortho")[..., :n_coeffs]


def blocked_synthesis(coeffs: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """The second release: cache-sized blocks of items × bands of ``(·, ·, L)`` products."""
    length, n_bands = seed.shape[-1], seed.shape[0]
    flat = coeffs.reshape(-1, n_bands, coeffs.shape[-1])
    item_block, band_block = synthesis_blocks(flat.shape[0], n_bands, length, coeffs.device)
    outputs = []
    for i in range(0, flat.shape[0], item_block):
        acc = None
        for b in range(0, n_bands, band_block):
            env = envelopes_from_coefficients(flat[i:i + item_block, b:b + band_block], length)
            summed = env.mul_(seed[b:b + band_block].to(env.dtype)).sum(-2)
            acc = summed if acc is None else acc + summed
        outputs.append(acc)
    return torch.cat(outputs).reshape(*coeffs.shape[:-2], length)


def backward_of(fn):
    """``fn``'s forward and backward pass (a loss that depends on every output sample)."""
    def run(c: torch.Tensor, s: torch.Tensor) -> None:
        c = c.detach().requires_grad_()
        fn(c, s).pow(2).sum().backward()
    return run


def loop_synthesis(coeffs: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Baseline: one band at a time (the reference's TexEnv loop)."""
    length = seed.shape[-1]
    out = torch.zeros(coeffs.shape[0], length, device=seed.device)
    for n in range(seed.shape[0]):
        spec = torch.zeros(coeffs.shape[0], length // 2 + 1, dtype=coeffs.dtype, device=seed.device)
        spec[:, : coeffs.shape[-1]] = coeffs[:, n]
        out = out + torch.fft.irfft(spec, n=length, norm="ortho") * seed[n]
    return out


IMPLEMENTATIONS = {"before": before_synthesis, "blocked": blocked_synthesis, "after": texenv_synthesis}


def memory_worker(args: dict) -> dict:
    """Peak memory (RSS above the inputs on a CPU, allocator peak on a GPU) of one synthesis forward+backward,
    measured in a fresh interpreter."""
    device = torch.device(args["device"])
    torch.set_num_threads(1)
    bank = erb_bank(args["length"], FS, args["n_bands"])
    # band-filtered noise: the carriers' supports, without make_carriers' float64 working memory (RSS is a
    # high-water mark, so the inputs must be cheaper than what is measured)
    noise = torch.randn(args["n_bands"], args["length"])
    seed = torch.fft.irfft(torch.fft.rfft(noise) * bank.filters[1:-1].float(), n=args["length"]).to(device)
    del noise
    coeffs = torch.randn(args["batch"], args["n_bands"], args["ppe"] // 2, dtype=torch.complex64, device=device)
    fn = backward_of(IMPLEMENTATIONS[args["impl"]])
    if args["impl"] == "after":
        texenv_synthesis(coeffs[:1], seed)           # the per-carrier plan is part of the inputs
    base = peak_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_cuda = torch.cuda.memory_allocated(device)
    fn(coeffs, seed)
    if device.type == "cuda":
        return {"peak_mb": (torch.cuda.max_memory_allocated(device) - base_cuda) / 2**20}
    return {"peak_mb": peak_rss_mb() - base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=16, help="frames per synthesis call")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (see README)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(memory_worker(json.loads(args.worker))))
        return
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lengths = [8192] if args.quick else [32768, 65536]
    rows = []
    for dev in devices:
        device = torch.device(dev)
        for length in lengths:
            for n in (16, 24):
                bank = erb_bank(length, FS, n).to(device)
                seed = make_carriers(bank, torch.Generator().manual_seed(0)).to(device)
                for ppe in (256, 512):
                    coeffs = torch.randn(args.batch, n, ppe // 2, dtype=torch.complex64, device=device)
                    torch.testing.assert_close(texenv_synthesis(coeffs, seed), loop_synthesis(coeffs, seed),
                                               rtol=1e-4, atol=1e-4)
                    torch.testing.assert_close(texenv_synthesis(coeffs, seed), before_synthesis(coeffs, seed),
                                               rtol=1e-4, atol=1e-4)
                    audio_s = args.batch * length / FS
                    t_vec = timeit(lambda c=coeffs, s=seed: texenv_synthesis(c, s), device, repeat=5)
                    t_before = timeit(lambda c=coeffs, s=seed: before_synthesis(c, s), device, repeat=5)
                    t_loop = timeit(lambda c=coeffs, s=seed: loop_synthesis(c, s), device, repeat=5)
                    t_block = timeit(lambda c=coeffs, s=seed: blocked_synthesis(c, s), device, repeat=5)
                    row = {"task": "synthesis", "device": dev, "frame": length, "N": n, "param_per_env": ppe,
                           "rtf": audio_s / t_vec, "before_rtf": audio_s / t_before, "loop_rtf": audio_s / t_loop,
                           "blocked_rtf": audio_s / t_block, "speedup": t_before / t_vec,
                           "speedup_blocked": t_block / t_vec}
                    if ppe == 256:
                        times = {name: timeit(lambda c=coeffs, s=seed, f=fn: backward_of(f)(c, s), device, repeat=5)
                                 for name, fn in IMPLEMENTATIONS.items()}
                        peaks = {impl: run_worker(__spec__.name, {"device": dev, "length": length, "n_bands": n,
                                                             "batch": args.batch, "ppe": ppe, "impl": impl}
                                                  ).get("peak_mb", float("nan"))
                                 for impl in IMPLEMENTATIONS}
                        rows.append({"task": "synthesis fwd+bwd", "device": dev, "frame": length, "N": n,
                                     "peak_before": peaks["before"], "peak_blocked": peaks["blocked"],
                                     "peak_after": peaks["after"],
                                     "param_per_env": ppe, "rtf": audio_s / times["after"],
                                     "before_rtf": audio_s / times["before"],
                                     "blocked_rtf": audio_s / times["blocked"],
                                     "speedup": times["before"] / times["after"],
                                     "speedup_blocked": times["blocked"] / times["after"]})
                    if ppe == 256:
                        frames = torch.randn(args.batch, length, device=device)
                        torch.testing.assert_close(texenv_analysis(frames, bank, 128),
                                                   before_analysis(frames, bank, 128), rtol=1e-3, atol=1e-3)
                        t_an = timeit(lambda f=frames, b=bank: texenv_analysis(f, b, 128), device, repeat=5)
                        t_an0 = timeit(lambda f=frames, b=bank: before_analysis(f, b, 128), device, repeat=5)
                        rows.append({"task": "analysis", "device": dev, "frame": length, "N": n,
                                     "param_per_env": ppe, "rtf": audio_s / t_an, "before_rtf": audio_s / t_an0,
                                     "speedup": t_an0 / t_an})
                    rows.append(row)
                    print(row, flush=True)
        # streaming: 60 s of audio, frames of 32768 at hop L/2, synthesis + overlap-add from precomputed
        # coefficients, and the full DSP analysis -> energy match -> synthesis path
        seconds = 10.0 if args.quick else 60.0
        length = 32768
        bank = erb_bank(length, FS, 16).to(device)
        seed = make_carriers(bank, torch.Generator().manual_seed(0)).to(device)
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
        texenv_resynthesize(x, bank, 256, seed, match_energy=True, generator=torch.Generator().manual_seed(0),
                            transients=False, equalize=False)
        sync(device)
        t_full = time.perf_counter() - start
        start = time.perf_counter()
        texenv_resynthesize(x, bank, 256, generator=torch.Generator().manual_seed(0))
        sync(device)
        t_default = time.perf_counter() - start
        tasks = (("streaming synthesis 60 s", t_stream), ("DSP resynthesis 60 s (analysis+match+synth)", t_full),
                 ("DSP resynthesis 60 s, default (auto: 3 candidates, equaliser)", t_default))
        for task, t in tasks:
            row = {"task": task.replace("60", f"{seconds:g}"), "device": dev, "frame": length, "N": 16,
                   "param_per_env": 256, "rtf": seconds / t}
            rows.append(row)
            print(row, flush=True)
    columns = [("task", "task"), ("device", "device"), ("frame", "frame"), ("N", "N"),
               ("param_per_env", "param_per_env"),
               ("before_rtf", "RTF before"), ("blocked_rtf", "RTF blocked (2nd release)"), ("rtf", "RTF after"),
               ("loop_rtf", "RTF per-band loop (reference)"), ("speedup", "speed-up after/before"),
               ("speedup_blocked", "speed-up after/blocked"), ("peak_before", "peak MiB before"),
               ("peak_blocked", "peak MiB blocked"), ("peak_after", "peak MiB after")]
    write_results("texenv" + ("_quick" if args.quick else ""), "TexEnv synthesis throughput", rows, columns,
                  notes=f"Batches of {args.batch} frames at 44.1 kHz; RTF = audio seconds per compute second "
                  f"(median of 5 runs), {args.threads} thread(s); speed-up = before time / after time in the same run; "
                  f"peak memory of one fwd+bwd call in a fresh interpreter (CPU: RSS above the inputs).")


if __name__ == "__main__":
    main()
