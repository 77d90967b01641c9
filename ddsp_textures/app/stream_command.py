"""``python -m ddsp_textures stream RUN -o out.wav|-``: a trained run streamed block by block, its controls as
curves, to a WAV written as it goes or to raw float32 PCM on stdout (book chapter: *DDSP training*, section
*Play it live*)."""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from ddsp_textures.inference.export import MAX_EXPORT_BLOCK, MIN_BLOCK


def _check(args: argparse.Namespace) -> None:
    if args.output != "-" and not args.output.lower().endswith(".wav"):
        raise ValueError(f"output {args.output} must end in .wav (or be - for raw float32 PCM on stdout)")
    if args.seconds is not None and not (math.isfinite(args.seconds) and 0 < args.seconds <= 1e6):
        raise ValueError(f"--seconds must be a number in (0, 1e6], got {args.seconds}")
    if not MIN_BLOCK <= args.block_size <= MAX_EXPORT_BLOCK:
        raise ValueError(f"--block-size must be in [{MIN_BLOCK}, {MAX_EXPORT_BLOCK}], got {args.block_size}")
    if args.morph is not None and not args.morph_to:
        raise ValueError("--morph needs a second recording: --morph-to FILE")


def stream_to(args: argparse.Namespace) -> None:
    """Run the ``stream`` command (see the module docstring)."""
    from ddsp_textures.app.cli import _check_output, _reference
    from ddsp_textures.dsp.audio import load_audio
    from ddsp_textures.inference.generation import apply_curves, parse_curve
    from ddsp_textures.inference.streaming import stream_core, traced_renderer
    from ddsp_textures.training.data import check_inference_input
    from ddsp_textures.training.rundir import load_run

    _check(args)
    for curve, name in ((args.loudness, "loudness"), (args.centroid, "centroid"), (args.rate, "rate"),
                        (args.morph, "morph")):
        if curve is not None:
            parse_curve(curve, name)
    if args.output != "-":
        _check_output(args.output)
    model, cfg = load_run(args.run_dir, args.weights)
    if args.centroid is not None and "centroid" not in model.feature_names:
        raise ValueError(f"this model has no 'centroid' input (its features: {', '.join(model.feature_names)})")
    reference = _reference(args.like, cfg)
    other = None
    if args.morph_to:
        check_inference_input(args.morph_to, cfg.sampling_rate)
        other = load_audio(args.morph_to, cfg.sampling_rate)
    core = stream_core(model, reference, morph_reference=other, block_size=args.block_size,
                       renderer=traced_renderer(model))
    core.reset(args.seed)
    apply_curves(core, args.loudness, args.centroid, args.rate, args.morph)
    level = float(np.sqrt(np.mean(np.square(reference, dtype=np.float64))))        # the reference's level
    fs = int(cfg.sampling_rate)
    total = None if args.seconds is None else int(round(args.seconds * fs))
    raw = args.output == "-"
    sink = sys.stdout.buffer if raw else sf.SoundFile(args.output, "w", fs, 1, "PCM_16", format="WAV")
    done, clipped = 0, 0
    bar = tqdm(total=total, unit="s", unit_scale=1 / fs, desc="streaming", file=sys.stderr,
               disable=raw and not sys.stderr.isatty())
    try:
        while total is None or done < total:
            n = args.block_size if total is None else min(args.block_size, total - done)
            y = core.read(n).numpy() * level
            clipped += int((np.abs(y) > 1).sum())
            if raw:
                sink.write(y.astype("<f4").tobytes())
                sink.flush()
            else:
                sink.write(np.clip(y, -1, 1))
            done += n
            bar.update(n)
    except BrokenPipeError:                              # the player went away: stop quietly
        sys.stdout = open(os.devnull, "w")               # noqa: SIM115 — nothing more may reach the closed pipe
        print("the output pipe closed; stopped", file=sys.stderr)
    finally:
        bar.close()
        if not raw:
            sink.close()                                 # the header gets its length: a valid WAV, even on Ctrl-C
            print(f"wrote {args.output} ({done / fs:.2f} s)")
        if clipped:
            warnings.warn(f"{clipped} samples were beyond full scale and clipped; lower --loudness", stacklevel=2)
