"""Does a transient mode chosen *before* resynthesising match the exhaustive choice?
``python -m benchmarks.eval_chooser [--quick]``.

The exhaustive chooser (``transients="auto"``) resynthesises a signal without a transient layer and with each
detector, and keeps the candidate whose frames are closest to the input in TexStat.  The rule tried here
(:func:`choose_detector`) decides from the share of the input's energy each detector's layer takes, before any
resynthesis: it would make ``"auto"`` one resynthesis instead of three.  For every case (the seven textures the
rule was fitted on, and held-out ones: other stretches of the recordings, procedural textures of other kinds,
seeds and rates) and two carrier seeds, this writes the TexStat of the three candidates, both choices, and what
the rule's choice costs against the search's (0 % where they agree).  Writes ``results/chooser[_quick].{json,md}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import RESULTS, machine
from ddsp_textures.dsp.audio import load_audio
from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.metrics import frame_distances
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.synths.analysis import texenv_resynthesize
from ddsp_textures.synths.transients import DETECTORS, analyze_transients, detector
from ddsp_textures.textures import make_texture

FS = 44100
RECORDINGS = Path(__file__).resolve().parents[1].parent / "shared" / "recordings"
MODES: tuple[bool | str, ...] = (False, "clicks", "knocks")
# (name, fitted on it?, source): a recording (file, start s) or a procedural texture (kind, seed, controls)
CASES: list[tuple[str, bool, tuple]] = [
    ("water from 0 s", True, ("water.flac", 0.0)),
    ("train from 0 s", True, ("train.ogg", 0.0)),
    ("amazon-rainforest from 0 s", True, ("amazon-rainforest.ogg", 0.0)),
    ("fire", True, ("fire", 11, {})),
    ("applause", True, ("applause", 11, {})),
    ("raindrops", True, ("raindrops", 11, {})),
    ("wind", True, ("wind", 11, {})),
    ("water from 40 s", False, ("water.flac", 40.0)),
    ("train from 60 s", False, ("train.ogg", 60.0)),
    ("train from 90 s", False, ("train.ogg", 90.0)),
    ("amazon-rainforest from 50 s", False, ("amazon-rainforest.ogg", 50.0)),
    ("rain", False, ("rain", 5, {})),
    ("stream", False, ("stream", 5, {})),
    ("fire, 5 crackles/s", False, ("fire", 5, {"rate": 5.0})),
    ("applause, 20 claps/s", False, ("applause", 5, {"rate": 20.0})),
    ("raindrops, 5 drops/s", False, ("raindrops", 5, {"rate": 5.0})),
    ("raindrops, 60 drops/s", False, ("raindrops", 5, {"rate": 60.0})),
    ("wind, seed 5", False, ("wind", 5, {})),
]


CLICKS_SHARE, KNOCKS_SHARE = 0.10, 0.90      # fitted on the seven "fitted" cases (benchmarks/README)


def layer_shares(x: torch.Tensor) -> dict[str, float]:
    """The share of ``x``'s energy each detector's layer takes out: ``1 − ‖residual‖² / ‖x‖²``."""
    total = float(x.double().pow(2).sum())
    return {name: 1.0 - float(analyze_transients(x, FS, **detector(name))[1].pow(2).sum()) / total
            for name in DETECTORS}


def choose_detector(shares: dict[str, float]) -> str | bool:
    """"knocks" where its layer takes >= 90 % of the energy, "clicks" where its layer takes >= 10 %, else none."""
    if shares["knocks"] >= KNOCKS_SHARE:
        return "knocks"
    return "clicks" if shares["clicks"] >= CLICKS_SHARE else False


def signal(source: tuple, seconds: float) -> torch.Tensor | None:
    if len(source) == 2:
        path = RECORDINGS / source[0]
        if not path.exists():
            return None
        x = load_audio(path, FS)[int(source[1] * FS):][: int(seconds * FS)]
    else:
        kind, seed, controls = source
        x = make_texture(kind, seconds, FS, seed=seed, **controls)
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


def label(mode: bool | str) -> str:
    return "no layer" if mode is False else str(mode)


def evaluate(x: torch.Tensor, seeds: tuple[int, ...]) -> dict:
    bank = erb_bank(2**15, FS, 16)
    measure = TexStat.for_bank(bank)
    shares = layer_shares(x)
    rule = choose_detector(shares)
    scores, probe = [], []
    for seed in seeds:
        candidates = [texenv_resynthesize(x, bank, 256, generator=torch.Generator().manual_seed(seed),
                                          transients=mode) for mode in MODES]
        scores.append(frame_distances(measure, x, candidates))
        auto = texenv_resynthesize(x, bank, 256, generator=torch.Generator().manual_seed(seed))
        probe.append(label(next(m for m, y in zip(MODES, candidates, strict=True) if torch.equal(y, auto))))
    return {"shares": shares, "rule": label(rule), "probe": probe, "scores": scores}


def write_table(rows: list[dict], path: Path, info: dict) -> None:
    lines = ["# Transient mode chosen before resynthesis (rule) against the exhaustive search", "",
             f"Machine: {info}", "",
             "| case | fitted on | layer share: clicks / knocks | TexStat: no layer | clicks | knocks "
             "| search picks | rule picks | rule's cost | probe picks | probe's cost |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [" / ".join(f"{s[i]:.2f}" for s in r["scores"]) for i in range(len(MODES))]
        picks = " / ".join(label(MODES[int(np.argmin(s))]) for s in r["scores"])
        costs = " / ".join(f"{100 * (s[[label(m) for m in MODES].index(r['rule'])] / min(s) - 1):.0f} %"
                           for s in r["scores"])
        names = [label(m) for m in MODES]
        probe = " / ".join(r.get("probe", ["–"] * len(r["scores"])))
        probe_cost = " / ".join(f"{100 * (s[names.index(p)] / min(s) - 1):.0f} %"
                                for s, p in zip(r["scores"], r.get("probe", []), strict=False)) or "–"
        share = f"{100 * r['shares']['clicks']:.0f} % / {100 * r['shares']['knocks']:.0f} %"
        lines.append(f"| {r['case']} | {'yes' if r['fitted'] else 'no'} | {share} | {cells[0]} | {cells[1]} | "
                     f"{cells[2]} | {picks} | {r['rule']} | {costs} | {probe} | {probe_cost} |")
    lines += ["", "TexStat of each candidate against the input (mean over its frames; carrier seeds 0 / 1); "
              "the rule's cost is its candidate's TexStat over the best one's, per seed; the probe is "
              "`transients=\"auto\"` (the candidates compared on a probe of "
              "4 frames; the closest rendered in full where it is ahead of the next by 1.5 standard errors of "
              "their frame-by-frame difference, or the same within 3 % on every frame, else the two closest, "
              "compared on the whole input), and its cost is counted the same way."]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10-s excerpts instead of 20")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    seconds = 10.0 if args.quick else 20.0
    rows = []
    for name, fitted, source in CASES:
        x = signal(source, seconds)
        if x is None:
            print(f"{name}: recording missing, skipped")
            continue
        row = {"case": name, "fitted": fitted, **evaluate(x, (0, 1))}
        rows.append(row)
        print(name, row["rule"], row["probe"], [[round(v, 2) for v in s] for s in row["scores"]], flush=True)
    stem = "chooser_quick" if args.quick else "chooser"
    info = machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    write_table(rows, RESULTS / f"{stem}.md", info)


if __name__ == "__main__":
    main()
