"""What every run leaves to look at and listen to: ``RUN/samples/`` and ``RUN/report.html`` (book chapter: *DDSP
training*, section *Generating new texture*).

:func:`write_report` takes a few seconds of the training audio, the model's resynthesis of them and a
generated excerpt (:func:`~ddsp_textures.inference.generation.generate`, any architecture), writes them as WAV
files, and
writes one self-contained HTML page — loss curves, spectrograms side by side, labelled audio players and the
time-free measures of :class:`~ddsp_textures.metrics.Yardstick` — that opens offline (images and audio are
embedded).  ``python -m ddsp_textures train``/``retrain`` call it at the end; ``python -m ddsp_textures report
RUN`` on demand.

When the training audio is at least :data:`MIN_SPLIT_SECONDS` long, its first half is the reference and its
second half the floor (another stretch of the same texture), and the page gives every distance as a multiple
of the floor's; shorter audio is its own reference and the distances are given as they are.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

SAMPLE_SECONDS = 8.0              # length of each sample and player
SCORE_SECONDS = 30.0              # at most this much of each half is scored
MIN_SPLIT_SECONDS = 20.0          # shorter training audio is not split into reference and floor


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _spectrograms(signals: dict[str, np.ndarray], fs: int) -> str:
    from matplotlib.figure import Figure

    from ddsp_textures.plotting import spectrogram

    fig = Figure(figsize=(3.3 * len(signals), 2.8))
    axes = fig.subplots(1, len(signals), sharey=True)
    for ax, (label, x) in zip(np.atleast_1d(axes), signals.items(), strict=True):
        spectrogram(ax, x, fs, label, max_freq=min(fs / 2, 16000))
    fig.tight_layout()
    return _png(fig)


def _players(signals: dict[str, np.ndarray], fs: int) -> str:
    from ddsp_textures.plotting import encode_clip

    cells = []
    for label, x in signals.items():
        data, mime, _ = encode_clip(x, fs, SAMPLE_SECONDS)
        src = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        cells.append(f"<td><b>{html.escape(label)}</b><br><audio controls preload='metadata' src='{src}'></audio></td>")
    return "<table class='players'><tr>" + "".join(cells) + "</tr></table>"


def _cell(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def _scores_table(rows: dict[str, dict[str, float]], floor: dict[str, float] | None,
                  events: dict[str, float]) -> str:
    from ddsp_textures.metrics import relative

    head = ["", "TexStat-KAD", "log-mel FD" if floor is None else "log-mel FD ÷ floor", "frame spread",
            "onsets/s", "peak/median", "periodicity"]
    lines = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for label, s in rows.items():
        mel = s["mel_fd"] if floor is None else relative(s, floor, events)["mel_fd_ratio"]
        cells = [s["kad"], mel, s["spread"], s["onset_rate"], s["peak_to_median"], s["periodicity"]]
        lines.append(f"<tr><td>{html.escape(label)}</td>" + "".join(f"<td>{_cell(c)}</td>" for c in cells) + "</tr>")
    own = ["0", "—", "1", _cell(events["onset_rate"]), _cell(events["peak_to_median"]), _cell(events["periodicity"])]
    lines.append("<tr><td>training audio (reference)</td>" + "".join(f"<td>{c}</td>" for c in own) + "</tr>")
    return "<table class='scores'>" + "".join(lines) + "</table>"


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}.players td{text-align:center;border:none}img{max-width:100%}
p.note{color:#555;font-size:.9em}"""


def _training_note(history: dict[str, list[float]], weights: str, events: bool) -> str:
    """One line under the loss curves: the validation loss before training, its best epoch and the change, and
    (for a model made only of events, a P-VAE) why its curve is flat."""
    val = history["val_loss"]
    finite = [i for i in range(1, len(val)) if math.isfinite(val[i])]
    if not finite or not math.isfinite(val[0]) or val[0] == 0:
        return ""
    best = min(finite, key=val.__getitem__)
    text = (f"Validation loss (what picks the best weights) {val[0]:.3g} before training, best {val[best]:.3g} "
            f"at epoch {best} ({100 * (val[best] / val[0] - 1):+.0f} %); these samples use the "
            f"{html.escape(weights)} weights. ")
    if events:
        text += ("A P-VAE starts near its end (its rate starts at the measured one, its grains are the "
                 "recording's), and a frame-aligned loss also charges where its events fall, which no control can "
                 "match: its curve stays flat and noisy. The time-free measures below judge it.")
    return f"<p class='note'>{text}</p>"


def write_report(run_dir: str | Path, weights: str = "best", seed: int = 0,
                 started: Callable[[], None] | None = None) -> Path:
    """Write ``RUN/samples/{original,resynthesis,generated}.wav`` and ``RUN/report.html``; returns the page's
    path.  Needs the run's training audio (``audio_path``).  ``started`` is called once the run and its audio
    are loaded (the CLI's progress line)."""
    import torch

    from ddsp_textures.dsp.audio import save_audio
    from ddsp_textures.inference.generation import generate
    from ddsp_textures.inference.resynthesis import resynthesize
    from ddsp_textures.metrics import Yardstick
    from ddsp_textures.plotting import history_figure
    from ddsp_textures.stats.texstat import TexStat
    from ddsp_textures.training.data import load_sources
    from ddsp_textures.training.rundir import load_history, load_run

    run = Path(run_dir)
    model, cfg = load_run(run, weights)
    fs = int(cfg.sampling_rate)
    try:
        audio = load_sources(cfg.audio_path, fs, cfg.seed)[0]
    except FileNotFoundError:
        raise FileNotFoundError(f"the run's training audio {cfg.audio_path} is gone; a report needs it") from None
    if started is not None:
        started()
    n = len(audio)
    split = n >= 2 * MIN_SPLIT_SECONDS * fs and n // 2 >= 2 * model.frame_size
    half = min(n // 2, int(SCORE_SECONDS * fs)) if split else n
    reference = audio[:half]
    held_out = audio[n // 2: n // 2 + half] if split else audio
    texstat = TexStat.for_bank(model.bank).to(torch.device("cpu"))
    stick = Yardstick(reference, fs, texstat, floor=held_out if split else None)
    resynthesis = resynthesize(model, held_out, seed=seed)
    level = float(np.sqrt(np.mean(np.square(reference, dtype=np.float64))))
    generated = generate(model, len(held_out) / fs, reference, seed=seed) * level     # the reference's level
    rows = {"resynthesis of held-out audio" if split else "resynthesis": stick.scores(resynthesis),
            "generated": stick.scores(generated)}
    floor = stick.floor_scores() if split else None
    if floor is not None:
        rows = {"held-out audio (floor)": floor, **rows}
    clip = int(SAMPLE_SECONDS * fs)
    samples = {"original": held_out[:clip], "resynthesis": resynthesis[:clip], "generated": generated[:clip]}
    folder = run / "samples"
    folder.mkdir(exist_ok=True)
    for name, x in samples.items():
        peak = float(np.abs(x).max())
        save_audio(folder / f"{name}.wav", x * (0.99 / peak) if peak > 0.99 else x, fs)
    history = load_history(run)
    labels = {"original": "original (held out)" if split else "original", "resynthesis": "resynthesis",
              "generated": "generated"}
    shown = {labels[k]: v for k, v in samples.items()}
    body = [f"<h1>{html.escape(run.name)}</h1>",
            f"<p>{html.escape(cfg.architecture)} model, trained on <code>{html.escape(str(cfg.audio_path))}</code> "
            f"({n / fs:.1f} s at {fs} Hz), {len(history['epoch']) - 1} epochs; weights: {weights}.</p>",
            "<h2>Listen</h2>", _players(shown, fs),
            "<h2>Look</h2>", f"<img alt='spectrograms' src='data:image/png;base64,{_spectrograms(shown, fs)}'>",
            "<h2>Training</h2>", f"<img alt='loss curves' src='data:image/png;base64,{_png(history_figure(history))}'>",
            _training_note(history, weights, model.synthesizes_events and not model.has_carriers),
            "<h2>Time-free measures</h2>", _scores_table(rows, floor, stick.events),
            "<p class='note'>" + (
                "The first half of the training audio is the reference and its second half the floor: another "
                "stretch of the same texture. TexStat-KAD (unbiased, ×100) is about 0 for the floor — compare a "
                "row with the floor's; the log-mel Fréchet distance is a multiple of the floor's (1 = as close "
                "as the recording is to itself). "
                if split else "The training audio is too short to split; distances are given as they are. ")
            + "Frame spread: 1 = frames as varied as the recording's, 0 = one frame repeated. Onsets, "
              "peak-to-median and periodicity are measured on the envelope above 2 kHz; a periodicity well "
              "above the recording's is a pulse it does not have.</p>",
            f"<p class='note'>Samples: <code>{html.escape(str(folder))}</code>.</p>"]
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>"
            f"{html.escape(run.name)}: report</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>")
    path = run / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
