"""How close can a noise-carrier resynthesis get? The carrier-seed floor of the DSP resynthesis.

    python -m benchmarks.eval_carrier_floor            # the seven textures of eval_quality.py (≈ 7 min, 2 threads:
                                                       # DDSP_TEXTURES_THREADS=2; one thread by default)
    python -m benchmarks.eval_carrier_floor --quick    # 8-s excerpts, 2 seeds (a smoke test, not a result)

``texenv_resynthesize`` keeps each frame's band envelopes and draws the fine structure: noise carriers,
shifted at random per frame.  Two resyntheses of one recording that differ only in the carrier seed share
every analysed parameter, so their frame-aligned TexStat distance is what the carriers alone cost — the
floor of any resynthesis that keeps the envelopes and draws the carriers.  If the original were itself
"its envelopes times one more carrier draw", its expected distance to a resynthesis would equal that floor.

For each texture (the excerpts of ``eval_quality.py``), over ``--seeds`` carrier seeds, with
``TexStat(32768, 44100, 16, 6)``:

* **to original**: mean distance of the resyntheses to the original (TexEnv alone, ``transients=False``,
  and the default, ``transients="auto"``), and **between seeds**: mean distance over pairs of resyntheses;
  the ratio to ÷ between is ≈ 1 where the resynthesis is at its carrier floor;
* the five statistics' shares (β-weighted) of both, for TexEnv alone;
* **per-frame carrier search**: the carrier shift of every frame chosen from ``--candidates`` draws (the
  comb-free neighbours of the previous frame's shift, as ``framing.random_shifts``) by the synthesised
  frame's TexStat distance to the analysed frame — analysis-by-synthesis of the fine structure, as a CELP
  coder searches its codebook — scored with the same measure and with a held-out one (24 bands, 8
  modulation bands from 5 Hz), against TexEnv's random shifts on the held-out measure.
"""

from __future__ import annotations

import argparse
import time
from itertools import combinations

import numpy as np
import torch

from ddsp_textures.dsp.filterbanks import FilterBank, erb_bank
from ddsp_textures.dsp.framing import half_overlap_frames, overlap_add, zscore
from ddsp_textures.dsp.spectral import equalize_to, long_term_spectrum
from ddsp_textures.metrics import frame_audio, frame_distance, frame_distances
from ddsp_textures.stats.texstat import TexStat, statistics_distances
from ddsp_textures.synths import make_carriers, texenv_resynthesize
from ddsp_textures.synths.analysis import texenv_analysis
from ddsp_textures.synths.texenv import texenv_synthesis
from ddsp_textures.threads import set_threads

from .common import write_results
from .eval_quality import FS, L, excerpts

STATS = ("S1", "S2", "S3", "S4", "S5")
PARAM_PER_ENV = 256                     # as eval_quality.py's DSP rows


def searched_resynthesis(x: torch.Tensor, bank: FilterBank, measure: TexStat, candidates: int,
                         generator: torch.Generator) -> torch.Tensor:
    """TexEnv resynthesis (no transient layer, equalised) whose per-frame carrier shifts are chosen, frame
    by frame, as the one of ``candidates`` comb-free draws whose synthesised frame is closest in TexStat to
    the analysed frame."""
    length = bank.length
    carriers = make_carriers(bank, generator, long_term_spectrum(x, length))
    frames = half_overlap_frames(x, length)
    coeffs = texenv_analysis(frames, bank, PARAM_PER_ENV // 2)
    beta = torch.tensor(measure.beta)
    targets = measure.statistics(zscore(frames.float()))
    shifts, previous = [], None
    for k in range(frames.shape[0]):
        if previous is None:
            draws = torch.randint(0, length, (candidates,), generator=generator)
        else:   # delays of [L/4, 3L/4) to the previous frame's carrier, as framing.random_shifts(hop=L/2)
            delays = torch.randint(length // 4, length - length // 4, (candidates,), generator=generator)
            draws = (previous + delays - length // 2) % length
        out = texenv_synthesis(coeffs[k:k + 1].expand(candidates, -1, -1), carriers.to(frames.dtype), shifts=draws)
        stats = measure.statistics(zscore(out.float()))
        target = [t[k:k + 1].expand_as(s) for t, s in zip(targets, stats, strict=True)]
        previous = draws[int((statistics_distances(stats, target) * beta).sum(-1).argmin())]
        shifts.append(int(previous))
    out = texenv_synthesis(coeffs, carriers.to(frames.dtype), shifts=torch.tensor(shifts))
    return equalize_to(overlap_add(out, length // 2, "sqrt_hann")[: x.shape[0]], x, bank.fs)


def resynthesise(x: torch.Tensor, bank: FilterBank, transients: bool | str, seed: int) -> torch.Tensor:
    return texenv_resynthesize(x.double(), bank, PARAM_PER_ENV, transients=transients,
                               generator=torch.Generator().manual_seed(seed)).float()


def frame_statistics(measure: TexStat, y: torch.Tensor) -> list[torch.Tensor]:
    """TexStat statistics of the z-scored, non-overlapping frames of ``y`` (as ``frame_distance`` frames it)."""
    return measure.statistics(zscore(frame_audio(y, measure.frame_size)))


def shares(measure: TexStat, sa: list[torch.Tensor], sb: list[torch.Tensor]) -> np.ndarray:
    """β-weighted mean distance of each statistic between the aligned frames of two signals, from their
    :func:`frame_statistics`: ``(5,)``; sums to ``frame_distance``."""
    count = min(len(sa[0]), len(sb[0]))
    d = statistics_distances([s[:count] for s in sa], [s[:count] for s in sb])
    return (d.mean(0) * torch.tensor(measure.beta)).numpy()


def floor(measure: TexStat, x: torch.Tensor, ys: list[torch.Tensor]) -> tuple[float, float, float]:
    """Mean distance to ``x``, its spread over seeds, and the mean distance between pairs of ``ys`` (each
    signal's statistics computed once: ``frame_distances``)."""
    to_x = frame_distances(measure, x, ys)
    between = [d for i, a in enumerate(ys) for d in frame_distances(measure, a, ys[i + 1:])]
    return float(np.mean(to_x)), float(np.std(to_x)), float(np.mean(between))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, default=3, help="carrier seeds (at least 2)")
    parser.add_argument("--candidates", type=int, default=8, help="carrier draws searched per frame")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.seeds = 8.0, 2
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (the floor is a distance between seeds)")
    set_threads(default=1)
    measure, held_out = TexStat(L, FS, 16, 6), TexStat(L, FS, 24, 8, mod_low=5.0)
    bank = erb_bank(L, FS, 16)
    rows = []
    for name, audio in excerpts(args.seconds).items():
        start = time.perf_counter()
        x = torch.tensor(np.ascontiguousarray(audio, dtype=np.float32))
        row: dict = {"texture": name, "own": frame_distance(measure, x[:-L], x[L:])}

        plain = [resynthesise(x, bank, False, s) for s in range(args.seeds)]
        row["texenv"], row["texenv_spread"], row["texenv_between"] = floor(measure, x, plain)
        row["texenv_ratio"] = row["texenv"] / row["texenv_between"]
        stats_x, stats = frame_statistics(measure, x), [frame_statistics(measure, y) for y in plain]
        to_x = np.mean([shares(measure, stats_x, s) for s in stats], axis=0)
        between = np.mean([shares(measure, a, b) for a, b in combinations(stats, 2)], axis=0)
        for stat, v, w in zip(STATS, to_x, between, strict=True):
            row[f"{stat}_to"], row[f"{stat}_between"] = float(v), float(w)
        auto = [resynthesise(x, bank, "auto", s) for s in range(args.seeds)]
        row["auto"], row["auto_spread"], row["auto_between"] = floor(measure, x, auto)
        row["auto_ratio"] = row["auto"] / row["auto_between"]
        searched = [searched_resynthesis(x.double(), bank, measure, args.candidates,
                                         torch.Generator().manual_seed(s)).float() for s in range(args.seeds)]
        row["search"], row["search_spread"], row["search_between"] = floor(measure, x, searched)
        row["texenv_held"], row["search_held"] = (float(np.mean(frame_distances(held_out, x, ys)))
                                                  for ys in (plain, searched))
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    columns = [("texture", "texture"), ("own", "own variability"),
               ("texenv", "TexEnv to original"), ("texenv_spread", "± (seeds)"),
               ("texenv_between", "TexEnv between seeds"), ("texenv_ratio", "to ÷ between"),
               ("auto", "default to original"), ("auto_between", "default between seeds"),
               ("auto_ratio", "default to ÷ between"),
               ("search", f"search ({args.candidates}/frame) to original"), ("search_spread", "± (seeds) search"),
               ("search_between", "search between seeds"),
               ("texenv_held", "TexEnv, held-out measure"), ("search_held", "search, held-out measure")]
    columns += [(f"{s}_{kind}", f"{s} {label}") for s in STATS
                for kind, label in (("to", "to original"), ("between", "between"))]
    columns.append(("seconds", "s"))
    notes = (f"Excerpts of {args.seconds:g} s at {FS} Hz (as eval_quality.py); frames of {L}; "
             f"TexStat(32768, 44100, 16, 6); TexEnv N = 16, param_per_env = 256, equalised; means over "
             f"{args.seeds} carrier seeds, 'between' over their pairs. Held-out measure: TexStat(32768, 44100, "
             f"24, 8, mod_low=5). S1…S5: each statistic's β-weighted share of the TexEnv distances.")
    write_results("carrier_floor" + ("_quick" if args.quick else ""),
                  "Carrier-seed floor of the DSP resynthesis", rows, columns, notes=notes)


if __name__ == "__main__":
    main()
