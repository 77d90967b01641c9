"""TexStat forward+backward time and peak memory: the library against the implementation it replaced.

"Before" (kept here, not in the library) is the library's TexStat of the previous release: the whole batch at
once, time-domain subbands (rfft + irfft of every band), the Hilbert envelope by fft + ifft, decimation by
rfft + irfft and the modulation bank by rfft + irfft of all M + 2 bands — 8 FFT passes over ``(B, N, L)``-sized
data.  "After" is the library: batch chunks sized for the cache, the analytic signal from one inverse FFT of
each band's one-sided spectrum, and the decimated envelope and its modulation bands kept as spectra (their
variances and correlations by Parseval) — 2 passes.  "Previous" is the library before its last round (the Gram
round): the same pipeline with the envelopes centred twice and normalised before their correlations, and the
modulation vectors normalised before theirs, where the library now takes variances and correlations from one Gram
matrix each (``legacy_numerics.previous_texstat``).  All give the same statistics (checked before timing).
Each measurement runs in a fresh interpreter, so the reported peak memory (CPU: peak RSS above the inputs;
CUDA: ``max_memory_allocated``) is its own.

    python -m benchmarks.bench_texstat            # B 1/8/32 × L 65536, N 16/24, M 6, 1 and 2 threads
    python -m benchmarks.bench_texstat --quick    # smaller sizes for a smoke test
"""

from __future__ import annotations

import argparse
import json

import torch

from ddsp_textures.dsp.envelopes import downsample, hilbert_envelope
from ddsp_textures.stats.texstat import (
    TexStat,
    _std,
    _upper_pairs,
    correlation_matrix,
    statistics_distances,
)

from .common import RESULTS, add_summary, peak_rss_mb, run_worker, timeit, write_results
from .legacy_numerics import previous_moments, previous_texstat


def before_statistics(ts: TexStat, x: torch.Tensor) -> list[torch.Tensor]:
    """The previous release's ``TexStat.statistics`` (time-domain pipeline, whole batch)."""
    env = hilbert_envelope(ts.cochlear(x))               # z.abs(), as before
    dec = downsample(env, ts.factor)
    mod = ts.modulation(dec)
    b = x.shape[0]
    s1 = previous_moments(env, ts.alpha, ts.eps)
    s2 = _upper_pairs(correlation_matrix(env))
    s3 = (_std(mod) / _std(dec).unsqueeze(-1)).reshape(b, -1)
    s4 = _upper_pairs(correlation_matrix(mod.transpose(1, 2))).transpose(1, 2).reshape(b, -1)
    s5 = _upper_pairs(correlation_matrix(mod)).transpose(1, 2).reshape(b, -1)
    return [s1, s2, s3, s4, s5]


def before_loss(ts: TexStat, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ts.weighted(statistics_distances(before_statistics(ts, x), before_statistics(ts, y)))


def worker(args: dict) -> dict:
    torch.manual_seed(0)
    device = torch.device(args["device"])
    torch.set_num_threads(args["threads"])
    b, n, length, impl = args["batch"], args["n_bands"], args["length"], args["impl"]
    ts = TexStat(length, 44100, n, 6).to(device)
    x = torch.randn(b, length, device=device)
    y = torch.randn(b, length, device=device, requires_grad=True)
    if impl == "library":
        loss_fn = ts
    elif impl == "previous":
        def loss_fn(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            with previous_texstat():
                return ts(a, c)
    else:
        loss_fn = lambda a, c: before_loss(ts, a, c)  # noqa: E731

    def forward():
        with torch.no_grad():
            loss_fn(x, y)

    def forward_backward():
        y.grad = None
        loss_fn(x, y).backward()

    base_rss = peak_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_cuda = torch.cuda.memory_allocated(device)
    t_fwd = timeit(forward, device, repeat=args["repeat"])
    t_fb = timeit(forward_backward, device, repeat=args["repeat"])
    out = {"forward_s": t_fwd, "forward_backward_s": t_fb}
    if device.type == "cuda":
        out["peak_mb"] = (torch.cuda.max_memory_allocated(device) - base_cuda) / 2**20
    else:
        out["peak_mb"] = peak_rss_mb() - base_rss
    return out


def check_equal() -> None:
    for length, n in ((8192, 8), (44100, 16)):
        ts = TexStat(length, 44100, n, 6).double()
        x = torch.randn(3, length, dtype=torch.float64)
        with previous_texstat():
            previous = ts.statistics(x, chunk_size=2)
        for a, b, c in zip(ts.statistics(x, chunk_size=2), before_statistics(ts, x), previous, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
            torch.testing.assert_close(a, c, rtol=1e-9, atol=1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op threads")
    parser.add_argument("--render", action="store_true", help="only rewrite the digest of results/texstat.md")
    args = parser.parse_args()
    if args.render:
        name = "texstat" + ("_quick" if args.quick else "")
        add_summary(RESULTS / f"{name}.md", summary_table(json.loads((RESULTS / f"{name}.json").read_text())["rows"]))
        return
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    check_equal()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    sizes = [(1, 16), (4, 16), (4, 24)] if args.quick else [(1, 16), (8, 16), (8, 24), (32, 16)]
    length = 16384 if args.quick else 65536
    rows = []
    for device in devices:
        for threads in args.threads if device == "cpu" else [args.threads[0]]:
            for batch, n in sizes:
                row = {"device": device, "threads": threads, "batch": batch, "length": length, "N": n, "M": 6}
                for impl in ("library", "previous", "before"):
                    res = run_worker(__spec__.name, {"device": device, "batch": batch, "n_bands": n, "length": length,
                                                "impl": impl, "repeat": args.repeat, "threads": threads})
                    if "error" in res:
                        row[impl] = f"failed: {res['error'][:60]}"
                        continue
                    for key, value in res.items():
                        row[f"{impl}_{key}"] = value
                if "before_forward_backward_s" in row and "library_forward_backward_s" in row:
                    row["speedup"] = row["before_forward_backward_s"] / row["library_forward_backward_s"]
                    row["memory_ratio"] = row["before_peak_mb"] / max(row["library_peak_mb"], 1e-3)
                if "previous_forward_backward_s" in row and "library_forward_backward_s" in row:
                    row["round_speedup"] = row["previous_forward_backward_s"] / row["library_forward_backward_s"]
                    row["round_speedup_forward"] = row["previous_forward_s"] / row["library_forward_s"]
                rows.append(row)
                print(row, flush=True)
    columns = [("device", "device"), ("threads", "threads"), ("batch", "B"), ("N", "N"),
               ("before_forward_s", "before fwd (s)"), ("before_forward_backward_s", "before fwd+bwd (s)"),
               ("before_peak_mb", "before peak (MiB)"), ("previous_forward_s", "previous fwd (s)"),
               ("previous_forward_backward_s", "previous fwd+bwd (s)"), ("library_forward_s", "after fwd (s)"),
               ("library_forward_backward_s", "after fwd+bwd (s)"), ("library_peak_mb", "after peak (MiB)"),
               ("speedup", "speed-up fwd+bwd"), ("round_speedup_forward", "previous/after fwd"),
               ("round_speedup", "previous/after fwd+bwd"), ("memory_ratio", "memory before/after")]
    path = write_results("texstat" + ("_quick" if args.quick else ""),
                         "TexStat loss: forward+backward time and peak memory", rows, columns,
                         notes=f"L = {length} samples at 44.1 kHz, M = 6; medians of {args.repeat} runs, "
                         "each in a fresh process; ratios are before / after measured in the same run.")
    add_summary(path, summary_table(rows))


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 1 else f"{value:#.3g} s"


def summary_table(rows: list[dict]) -> list[str]:
    """The README's digest: CPU, every size on one thread and the two larger batches on two."""
    lines = ["| TexStat fwd+bwd, L = 65536, M = 6 | threads | before | previous | after | speed-up | previous → after "
             "(fwd+bwd / fwd) | peak before → after |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["device"] != "cpu" or "speedup" not in r or (r["threads"] != 1 and (r["N"] != 16 or r["batch"] < 8)):
            continue
        speedup = f"{r['speedup']:.1f}×"
        if r["threads"] == 1 and r["batch"] > 1:
            speedup = f"**{speedup}**"
        peak = ("(below RSS resolution)" if r["before_peak_mb"] == 0 else
                f"{r['before_peak_mb']:.0f} → {r['library_peak_mb']:.0f} MiB")
        before, after = _seconds(r["before_forward_backward_s"]), _seconds(r["library_forward_backward_s"])
        previous, round_ = "–", "–"
        if "round_speedup" in r:
            previous = _seconds(r["previous_forward_backward_s"])
            round_ = f"{r['round_speedup']:.2f}× / {r['round_speedup_forward']:.2f}×"
        lines.append(f"| B = {r['batch']}, N = {r['N']} | {r['threads']} | {before} | {previous} | {after} | {speedup} "
                     f"| {round_} | {peak} |")
    return lines


if __name__ == "__main__":
    main()
