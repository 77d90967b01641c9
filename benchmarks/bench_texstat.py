"""TexStat forward+backward time and peak memory: the library vs a straightforward implementation.

The baseline (kept here, not in the library) follows the reference's structure: a Python loop over the
cochlear bands for the modulation filterbank, and correlations by broadcasting — S4 compares every pair of
channels through a ``(B, N, N, M, T)`` tensor.  Both give the same statistics (checked before timing).
Each measurement runs in a fresh interpreter, so the reported peak memory (CPU: peak RSS above the inputs;
CUDA: ``max_memory_allocated``) is its own.

    python benchmarks/bench_texstat.py            # B 8/32 × L 65536, N 16/24, M 6
    python benchmarks/bench_texstat.py --quick    # smaller sizes for a smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mb, run_worker, timeit, write_results  # noqa: E402

from ddsp_textures.envelopes import downsample, hilbert_envelope  # noqa: E402
from ddsp_textures.texstat import TexStat  # noqa: E402


def _corr_broadcast(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    return (a * b).mean(-1) / (a.pow(2).mean(-1).sqrt() * b.pow(2).mean(-1).sqrt() + 1e-10)


def baseline_statistics(ts: TexStat, x: torch.Tensor) -> list[torch.Tensor]:
    """Unvectorised TexStat: loop over bands for the modulation bank, broadcast correlations."""
    b = x.shape[0]
    n, m = ts.n_bands, ts.n_mod_bands
    env = hilbert_envelope(ts.cochlear(x))
    dec = downsample(env, ts.factor)
    mod = torch.stack([ts.modulation(dec[:, i]) for i in range(n)], dim=1)          # loop over bands
    mu = env.mean(-1)
    var = env.var(-1)
    c = env - mu.unsqueeze(-1)
    alpha = torch.tensor(ts.alpha, dtype=x.dtype, device=x.device)
    s1 = torch.stack([mu, var / (mu**2 + 1e-10), c.pow(3).mean(-1) / (var + 1e-10) ** 1.5,
                      c.pow(4).mean(-1) / (var + 1e-10) ** 2], -1) * alpha
    iu = torch.triu_indices(n, n, 1)
    s2 = _corr_broadcast(env[:, :, None], env[:, None, :])[:, iu[0], iu[1]]
    s3 = (mod.std(-1) / dec.std(-1).unsqueeze(-1)).reshape(b, -1)
    s4 = _corr_broadcast(mod[:, :, None], mod[:, None, :])[:, iu[0], iu[1]].reshape(b, -1)   # (B,N,N,M,T)
    jm = torch.triu_indices(m, m, 1)
    s5 = _corr_broadcast(mod[:, :, :, None], mod[:, :, None, :])[:, :, jm[0], jm[1]]
    s5 = s5.transpose(1, 2).reshape(b, -1)
    return [s1, s2, s3, s4, s5]


def baseline_loss(ts: TexStat, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    beta = torch.tensor(ts.beta, dtype=x.dtype, device=x.device)
    d = [(a - b).reshape(a.shape[0], -1).pow(2).mean(-1).add(1e-20).sqrt() for a, b in
         zip(baseline_statistics(ts, x), baseline_statistics(ts, y), strict=True)]
    return (torch.stack(d, -1).mean(0) * beta).sum()


def worker(args: dict) -> dict:
    torch.manual_seed(0)
    device = torch.device(args["device"])
    b, n, length, impl = args["batch"], args["n_bands"], args["length"], args["impl"]
    ts = TexStat(length, 44100, n, 6).to(device)
    x = torch.randn(b, length, device=device)
    y = torch.randn(b, length, device=device, requires_grad=True)
    if impl == "library":
        loss_fn = ts
    else:
        loss_fn = lambda a, c: baseline_loss(ts, a, c)  # noqa: E731

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
    ts = TexStat(8192, 44100, 8, 6)
    x = torch.randn(2, 8192, dtype=torch.float64)
    for a, b in zip(ts.double().statistics(x), baseline_statistics(ts.double(), x), strict=True):
        torch.testing.assert_close(a.reshape(2, -1), b.reshape(2, -1), rtol=1e-4, atol=1e-4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-baseline-gb", type=float, default=8.0,
                        help="skip the baseline when its broadcast tensors are estimated above this")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    check_equal()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    batches, length = ([2, 4], 16384) if args.quick else ([8, 32], 65536)
    rows = []
    for device in devices:
        for batch in batches:
            for n in (16, 24):
                row = {"device": device, "batch": batch, "length": length, "N": n, "M": 6}
                for impl in ("library", "baseline"):
                    # the baseline's S4 broadcast: B·N²·M·T floats, ~3 live copies with autograd
                    est_gb = 3 * batch * n * n * 6 * (length // 4) * 4 / 2**30
                    if impl == "baseline" and est_gb > args.max_baseline_gb:
                        row["baseline"] = f"skipped (needs ≈{est_gb:.0f} GB)"
                        continue
                    res = run_worker(__file__, {"device": device, "batch": batch, "n_bands": n, "length": length,
                                                "impl": impl, "repeat": args.repeat})
                    if "error" in res:
                        row[impl] = f"failed: {res['error'][:60]}"
                        continue
                    for key, value in res.items():
                        row[f"{impl}_{key}"] = value
                if "baseline_forward_backward_s" in row and "library_forward_backward_s" in row:
                    row["speedup"] = row["baseline_forward_backward_s"] / row["library_forward_backward_s"]
                    row["memory_ratio"] = row["baseline_peak_mb"] / max(row["library_peak_mb"], 1e-3)
                rows.append(row)
                print(row, flush=True)
    columns = [("device", "device"), ("batch", "B"), ("N", "N"), ("library_forward_s", "library fwd (s)"),
               ("library_forward_backward_s", "library fwd+bwd (s)"), ("library_peak_mb", "library peak (MiB)"),
               ("baseline_forward_backward_s", "baseline fwd+bwd (s)"), ("baseline_peak_mb", "baseline peak (MiB)"),
               ("speedup", "speed-up"), ("memory_ratio", "memory ratio"), ("baseline", "note")]
    write_results("texstat" + ("_quick" if args.quick else ""), "TexStat loss: forward+backward time and peak memory",
                  rows, columns, notes=f"L = {length} samples at 44.1 kHz, M = 6; medians of {args.repeat} runs; "
                  "ratios are baseline / library measured in the same run.")


if __name__ == "__main__":
    main()
