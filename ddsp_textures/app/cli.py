"""Command line: ``python -m ddsp_textures {train,retrain,report,resynth,generate,stream,export,textures}``;
``train`` and ``retrain`` also run under ``torchrun --nproc_per_node=K -m ddsp_textures ...``
(:mod:`ddsp_textures.training.distributed`)."""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path

import numpy as np


def _seed(text: str) -> int:
    """argparse type of ``--seed``: an integer >= 0 (RNG seeds are non-negative)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ddsp_textures",
                                description="Statistics-driven texture synthesis with DDSP.")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: $DDSP_TEXTURES_THREADS, else torch's choice — one per "
                        "core; use 1 on a machine shared with other jobs, see benchmarks/README.md, 'Threads')")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a new model from a JSON config")
    t.add_argument("config", help="path of the JSON config")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--no-report", action="store_true", help="do not write RUN/samples/ and RUN/report.html")
    r = sub.add_parser("retrain", help="resume a run from its last checkpoint")
    r.add_argument("run_dir")
    r.add_argument("--epochs", type=int, default=None, help="new total number of epochs")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--no-report", action="store_true", help="do not write RUN/samples/ and RUN/report.html")
    p_report = sub.add_parser("report", help="write RUN/samples/ (original, resynthesis, generated) and "
                                             "RUN/report.html (curves, spectrograms, players, time-free measures)")
    p_report.add_argument("run_dir")
    p_report.add_argument("--weights", choices=["best", "last"], default="best")
    p_report.add_argument("--seed", type=_seed, default=0)
    s = sub.add_parser("resynth", help="resynthesise (or timbre-transfer) an audio file with a trained run")
    s.add_argument("run_dir")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--loudness", choices=["specific", "generic", "none"], default="specific")
    s.add_argument("--weights", choices=["best", "last"], default="best")
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--transients", nargs="?", const="clicks", default=False, choices=["clicks", "knocks", "auto"],
                   help="TexDSP and hybrid: keep the input's clicks as a transient layer, the model resynthesises "
                        "the bed "
                        "(detector: clicks, the default, knocks for sparser, broader events, or auto: the one "
                        "closest to the input, or none)")
    s.add_argument("--equalize", "--equalise", dest="equalize", action="store_true",
                   help="filter the output so that its long-term spectrum follows the input's (within 6 dB): for "
                        "resynthesis; not for timbre transfer, where it would impose the input's spectrum")
    c = sub.add_parser("generate", help="generate a texture of any length from feature curves with a trained run",
                       description="Curves are a number or 'seconds:value' pairs, e.g. --loudness '0:-20,10:0'.")
    c.add_argument("run_dir")
    c.add_argument("output", help="WAV file to write")
    c.add_argument("--seconds", type=float, default=10.0)
    c.add_argument("--like", help="reference recording for the starting features (default: the training audio)")
    c.add_argument("--loudness", default="0", help="dB relative to the reference (curve)")
    c.add_argument("--centroid", default=None, help="spectral centroid in Hz (curve)")
    c.add_argument("--rate", default=None, help="events per second (curve)")
    c.add_argument("--variation", choices=["bootstrap", "mean"], default="bootstrap",
                   help="bootstrap: the reference's own feature trajectory in random blocks, so frames vary as the "
                        "recording's do (default); mean: its mean features, one average frame repeated")
    c.add_argument("--transients", default="default", choices=["default", "auto", "clicks", "knocks", "none"],
                   help="the reference's clicks placed anew over the generated bed of a TexDSP or hybrid run "
                        "(default: auto, the detector the DSP resynthesis of the reference keeps, or none; none "
                        "for P-VAE runs, which have no bed)")
    c.add_argument("--loop", action="store_true", help="a seamless loop: the end joins the start without a click")
    c.add_argument("--weights", choices=["best", "last"], default="best")
    c.add_argument("--seed", type=_seed, default=0)
    st = sub.add_parser("stream", help="stream a texture block by block from a trained run (to a WAV as it goes, "
                                       "or raw float32 PCM on stdout with -o -)",
                        description="Curves are a number or 'seconds:value' pairs, e.g. --loudness '0:-20,10:0'. "
                                    "Ctrl-C stops it and leaves a valid WAV.")
    st.add_argument("run_dir")
    st.add_argument("-o", "--output", required=True,
                    help="WAV file written as it goes, or - for raw float32 PCM on stdout (... | aplay -f FLOAT_LE "
                         "-c 1 -r RATE)")
    st.add_argument("--seconds", type=float, default=None, help="how long (default: until Ctrl-C)")
    st.add_argument("--like", help="reference recording (default: the training audio)")
    st.add_argument("--morph-to", help="a second reference recording; --morph moves towards it")
    st.add_argument("--loudness", default="0", help="dB relative to the reference (curve)")
    st.add_argument("--centroid", default=None, help="spectral centroid in Hz (curve)")
    st.add_argument("--rate", default=None, help="events per second (curve)")
    st.add_argument("--morph", default=None, help="0 (the reference) to 1 (the --morph-to recording) (curve)")
    st.add_argument("--block-size", type=int, default=2048, help="samples per block (256 to 16384)")
    st.add_argument("--weights", choices=["best", "last"], default="best")
    st.add_argument("--seed", type=_seed, default=0)
    ex = sub.add_parser("export", help="write a run (TexDSP, P-VAE or hybrid) as one TorchScript file that streams "
                                       "blocks (loads with torch.jit.load alone)")
    ex.add_argument("run_dir")
    ex.add_argument("output", help="file to write, e.g. fire.ts")
    ex.add_argument("--like", help="reference recording (default: the training audio)")
    ex.add_argument("--block-size", type=int, default=2048, help="samples per block() call (256 to 16384)")
    ex.add_argument("--weights", choices=["best", "last"], default="best")
    g = sub.add_parser("textures", help="write the procedural demo textures as WAV files")
    g.add_argument("output_dir")
    g.add_argument("--seconds", type=float, default=10.0)
    g.add_argument("--sampling-rate", type=int, default=44100)
    g.add_argument("--seed", type=_seed, default=0)
    return p


OUTPUT_SUFFIXES = (".wav", ".flac")


def _check_output(path: str) -> None:
    """Refuse an output path we cannot or should not write, before any work is done."""
    out = Path(path)
    if out.exists() and not out.is_dir() and not out.is_file():
        raise ValueError(f"output {out} exists and is not a regular file (a device or FIFO); give a file name")
    if out.is_dir():
        raise ValueError(f"output {out} is a directory; give a file name ending in .wav or .flac")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"output {out} must end in .wav or .flac (got {out.suffix or 'no extension'!r})")
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"cannot write {out}: {parent} is not a directory")


def _check_textures_args(args: argparse.Namespace) -> None:
    import math

    from ddsp_textures.training.config import LIMITS
    from ddsp_textures.training.data import MAX_PROCEDURAL_SECONDS

    out = Path(args.output_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output_dir {out} is an existing file, not a directory")
    if not (math.isfinite(args.seconds) and 0 < args.seconds <= MAX_PROCEDURAL_SECONDS):
        raise ValueError(f"--seconds must be a number in (0, {MAX_PROCEDURAL_SECONDS:g}], got {args.seconds}")
    highest = LIMITS["sampling_rate"]
    if not 8000 <= args.sampling_rate <= highest:
        raise ValueError(f"--sampling-rate must be in [8000, {highest}] Hz, got {args.sampling_rate}")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {message}", file=sys.stderr)


def _reference(like: str | None, cfg):  # noqa: ANN001, ANN202
    """The recording given with ``--like``, else the run's training audio."""
    from ddsp_textures.dsp.audio import load_audio
    from ddsp_textures.training.data import check_inference_input, load_sources

    if like:
        check_inference_input(like, cfg.sampling_rate)
        return load_audio(like, cfg.sampling_rate)
    try:
        return load_sources(cfg.audio_path, cfg.sampling_rate, cfg.seed)[0]
    except FileNotFoundError:
        raise FileNotFoundError(f"the run's training audio {cfg.audio_path} is gone; "
                                f"give a reference recording with --like FILE") from None


def _write_limited(path: str, y: np.ndarray, fs: int) -> None:
    """Write model output as a WAV, scaled down (with a warning) only if its peak would clip; non-finite output
    is refused, never written."""

    from ddsp_textures.dsp.audio import save_audio

    if not np.isfinite(y).all():
        raise ValueError(f"the output has NaN or inf samples (input or curves out of range?); {path} not written")
    peak = float(np.abs(y).max())
    if peak > 0.99:
        warnings.warn(f"the output peaks at {peak:.3g}, {20 * np.log10(peak / 0.99):.1f} dB over full scale; "
                      f"scaled down by that much to avoid clipping", stacklevel=2)
        y = y * (0.99 / peak)
    save_audio(path, y, fs)
    print(f"wrote {path} ({len(y) / fs:.2f} s)")


def _finish_ranks(message: str, run=None, report: bool = False) -> None:  # noqa: ANN001
    """Leave a torchrun process group (a no-op in one process); only rank 0 reports, and writes the run's
    samples and report page if ``report``."""
    from ddsp_textures.training.distributed import cleanup, environment_ranks

    cleanup()
    if environment_ranks().is_main:
        print(message)
        if report:
            _report(run)


def _report(run, weights: str = "best", seed: int = 0) -> None:  # noqa: ANN001
    from ddsp_textures.app.report import write_report

    path = write_report(run, weights, seed,
                        started=lambda: print("writing samples and report ...", file=sys.stderr, flush=True))
    print(f"report: {path} (samples in {path.parent / 'samples'})")


MAX_ERROR_CHARS = 400


def _short(message: str) -> str:
    """One line of at most :data:`MAX_ERROR_CHARS` characters: a huge value echoed in a message is cut."""
    line = " ".join(message.split())
    if len(line) <= MAX_ERROR_CHARS:
        return line
    return f"{line[:MAX_ERROR_CHARS]}… ({len(line) - MAX_ERROR_CHARS} more characters cut)"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 2 for any error: one ``error:`` line, no traceback)."""

    args = _parser().parse_args(argv)
    previous = _catch_sigterm()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)
            warnings.showwarning = _show_warning
            return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM (sent by ``timeout``, Slurm, ``docker stop``), handled like Ctrl-C: a start without a checkpoint
    is removed, a run with one can be resumed."""


def _catch_sigterm():  # noqa: ANN202
    """Turn SIGTERM into :class:`Terminated` (main thread only); returns the previous handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):  # noqa: ANN001
        raise Terminated()

    return signal.signal(signal.SIGTERM, handler)


def _run(args: argparse.Namespace) -> int:
    from ddsp_textures.threads import set_threads
    from ddsp_textures.training.config import ConfigError

    try:
        set_threads(args.threads)
        if args.command == "train":
            from ddsp_textures.training.config import load_config
            from ddsp_textures.training.trainer import train

            run = train(load_config(args.config), progress=not args.quiet)
            _finish_ranks(f"trained: {run}", run, report=not args.no_report)
        elif args.command == "retrain":
            from ddsp_textures.training.trainer import retrain

            run = retrain(args.run_dir, epochs=args.epochs, progress=not args.quiet)
            _finish_ranks(f"trained: {run}", run, report=not args.no_report)
        elif args.command == "report":
            _report(args.run_dir, args.weights, args.seed)
        elif args.command == "resynth":
            from ddsp_textures.dsp.audio import load_audio
            from ddsp_textures.inference.resynthesis import resynthesize
            from ddsp_textures.training.data import check_inference_input
            from ddsp_textures.training.rundir import load_run

            _check_output(args.output)
            model, cfg = load_run(args.run_dir, args.weights)
            check_inference_input(args.input, cfg.sampling_rate)
            audio = load_audio(args.input, cfg.sampling_rate)
            y = resynthesize(model, audio, args.loudness, args.seed, transients=args.transients,
                             equalize=args.equalize)
            _write_limited(args.output, y, cfg.sampling_rate)
        elif args.command == "generate":
            from ddsp_textures.inference.generation import generate, reference_layer, transient_layer
            from ddsp_textures.training.rundir import load_run

            _check_output(args.output)
            model, cfg = load_run(args.run_dir, args.weights)
            reference = _reference(args.like, cfg)
            asked = transient_layer(model, None if args.transients == "none" else args.transients, args.variation)
            layer = reference_layer(model, asked, reference) if asked else None      # resolved once, here
            y = generate(model, args.seconds, reference, args.loudness, args.centroid, args.rate, args.seed,
                         args.variation, layer, args.loop)
            y = y * float(np.sqrt(np.mean(np.square(reference, dtype=np.float64))))   # the reference's level
            _write_limited(args.output, y, cfg.sampling_rate)
            if asked:                                 # which layer went over the bed, said once it is written
                print(f"transient layer: {layer or 'none'}", file=sys.stderr)
        elif args.command == "stream":
            from ddsp_textures.app.stream_command import stream_to

            stream_to(args)
        elif args.command == "export":
            from ddsp_textures.inference.export import export_stream
            from ddsp_textures.training.rundir import load_run

            if not args.output.endswith((".ts", ".pt")):
                raise ValueError(f"output {args.output} must end in .ts (a TorchScript file)")
            if Path(args.output).is_dir():
                raise ValueError(f"output {args.output} is a directory; give a file name ending in .ts")
            model, cfg = load_run(args.run_dir, args.weights)
            path = export_stream(model, _reference(args.like, cfg), args.output, args.block_size)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; torch.jit.load it, then reset(seed), "
                  f"set_controls(loudness_db, centroid_hz, rate), block())")
        elif args.command == "textures":
            from ddsp_textures.dsp.audio import save_audio
            from ddsp_textures.textures import TEXTURES, make_texture

            _check_textures_args(args)
            out = Path(args.output_dir)
            for name in TEXTURES:
                save_audio(out / f"{name}.wav", make_texture(name, args.seconds, args.sampling_rate, args.seed),
                           args.sampling_rate)
            print(f"wrote {len(TEXTURES)} textures to {out}")
    except (ConfigError, FileNotFoundError, ValueError, FloatingPointError) as err:
        sys.stderr.write(f"error: {_short(str(err))}\n")          # one write: ranks share a terminal
        return 2
    except MemoryError:
        print("error: out of memory; use a smaller config (frame_size, batch_size) or shorter audio",
              file=sys.stderr)
        return 2
    except RuntimeError as err:
        from ddsp_textures.training.distributed import environment_ranks, lost_peer

        if not lost_peer(err):
            raise
        rank = environment_ranks().rank
        print(f"error: rank {rank} lost the other ranks of this torchrun launch (one failed or was killed: see its "
              f"error line); a run with a checkpoint resumes with retrain", file=sys.stderr)
        return 1
    except OSError as err:
        where = f" {err.filename}" if err.filename else ""
        print(f"error: cannot access{where}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        run = getattr(err, "run_dir", None) or (args.run_dir if args.command == "retrain" else None)
        what = "terminated" if isinstance(err, Terminated) else "interrupted"
        if args.command in ("train", "retrain"):
            hint = (f"; resume with: python -m ddsp_textures retrain {run}" if run
                    else "; nothing was saved (no epoch had finished)")
        else:
            hint = ""
        print(f"{what}{hint}", file=sys.stderr)
        return 143 if isinstance(err, Terminated) else 130
    return 0
