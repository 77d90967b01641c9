"""Hostile-but-fair inputs: every case must end with exit code 2, exactly one ``error:`` line naming the problem,
no traceback, and no file created, changed or removed anywhere in the sandbox (so nothing outside a run, and no
half-written run).  The cases are a table; generated configs (Hypothesis) check that validation never fails with
anything but a one-line ``ConfigError``.  The number of cases is printed (``pytest -s``) and stated in the README.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddsp_textures.app.cli import main
from ddsp_textures.training.config import ConfigError, TrainConfig, parse_config
from ddsp_textures.training.trainer import train

TINY = {
    "audio_path": "procedural:rain?seconds=6", "frame_size": 4096, "hop_size": 2048, "sampling_rate": 16000,
    "sequence_length": 2, "features_list": ["energy_bands", "centroid"], "hidden_size_enc": 16,
    "hidden_size_dec": 16, "deepness_enc": 1, "deepness_dec": 1, "param_per_env": 32, "N_filter_bank": 8,
    "M_filter_bank": 4, "batch_size": 4, "epochs": 1, "learning_rate": 0.003, "seed": 1,
    "models_directory": "runs",
}


@dataclass
class Case:
    name: str
    argv: list[str]
    message: str                      # a fragment the error line must contain (the key, file or option)
    setup: object = None              # optional callable(sandbox) run before the command


# ----------------------------------------------------------------------------------------------- the sandbox
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trained")
    return train({**TINY, "models_directory": str(root), "run_name": "good"}, progress=False)


def _make_sandbox(root: Path, trained_run: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copytree(trained_run, root / "run")
    (root / "run" / ".lock").unlink(missing_ok=True)
    (root / "victim").mkdir()
    (root / "victim" / "config.json").write_text('{"precious": true}')
    rng = np.random.default_rng(0)
    sf.write(root / "good.wav", (0.1 * rng.standard_normal(32000)).astype(np.float32), 16000)
    sf.write(root / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    (root / "not_audio.wav").write_text("this is not a wav file")
    (root / "folder").mkdir()
    (root / "a_file").write_text("x")
    (root / "latin1.json").write_bytes('{"audio_path": "caf\xe9"}'.encode("latin-1"))
    (root / "list.json").write_text("[1, 2]")
    (root / "broken.json").write_text('{"audio_path": ')
    return root


def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_dir():
            out[rel] = ("dir",)
        else:
            stat = path.stat()
            out[rel] = (stat.st_size, stat.st_mtime_ns, path.read_bytes()[:64])
    return out


def _config(root: Path, name: str = "cfg.json", raw: str | None = None, **changes) -> list[str]:
    data = {**TINY, **changes}
    for key in [k for k, v in changes.items() if v is _DROP]:
        data.pop(key)
    (root / name).write_text(raw if raw is not None else json.dumps(data))
    return ["train", name, "--quiet"]


_DROP = object()


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:              # argparse usage errors
            code = exit_.code
        except BaseException:                    # noqa: BLE001 - a traceback is exactly what we test against
            code = "traceback"
            err.write(traceback.format_exc())
    return code, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------------------------- the cases
INT_KEYS = ["frame_size", "hop_size", "sampling_rate", "sequence_length", "hidden_size_enc", "hidden_size_dec",
            "deepness_enc", "deepness_dec", "param_per_env", "N_filter_bank", "M_filter_bank", "batch_size",
            "epochs"]
BAD_INTS = [0, -1, "abc", 1.5, None, True, 2**40]
FLOAT_KEYS = ["learning_rate", "regularizer_weight", "validation_fraction", "filter_low_lim"]
BAD_FLOATS = [math.nan, math.inf, -math.inf, "x"]


def _damage(kind: str):
    """A setup that damages the sandbox run's checkpoint files in one way."""

    def setup(root: Path) -> None:
        for name in ("checkpoint.pt", "best_model.pt"):
            path = root / "run" / name
            state = torch.load(path, weights_only=True)
            if kind == "truncated":
                path.write_bytes(path.read_bytes()[:200])
            elif kind == "random bytes":
                path.write_bytes(np.random.default_rng(1).bytes(4096))
            elif kind == "pickle with code":
                torch.save({"model": _Evil(), "config": state["config"]}, path)
            elif kind == "bare tensor":
                torch.save(torch.zeros(3), path)
            elif kind == "no config":
                torch.save({k: v for k, v in state.items() if k != "config"}, path)
            elif kind == "other shape":
                state["model"] = {k: torch.zeros(3, 3) for k in state["model"]}
                torch.save(state, path)
            elif kind == "NaN weights":
                state["model"] = {k: v.float().fill_(math.nan) if v.is_floating_point() else v
                                  for k, v in state["model"].items()}
                torch.save(state, path)
            elif kind == "invalid config":
                state["config"] = json.dumps({**json.loads(state["config"]), "frame_size": -4})
                torch.save(state, path)
            elif kind == "config not JSON":
                state["config"] = "{not json"
                torch.save(state, path)

    return setup


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


DAMAGE = ["truncated", "random bytes", "pickle with code", "bare tensor", "no config", "other shape",
          "NaN weights", "invalid config", "config not JSON"]


def _edit_config_copy(root: Path) -> None:
    path = root / "run" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "learning_rate": 0.5}))


def _hold_lock(root: Path) -> None:
    import fcntl

    (root / "runs" / "busy").mkdir(parents=True)
    _hold_lock.handle = open(root / "runs" / "busy" / ".lock", "a")  # noqa: SIM115
    fcntl.flock(_hold_lock.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _occupied_run(root: Path) -> None:
    (root / "runs" / "taken").mkdir(parents=True)
    (root / "runs" / "taken" / "notes.txt").write_text("mine")


def build_cases(root: Path) -> list[Case]:
    cases: list[Case] = []
    for key in INT_KEYS:
        for value in BAD_INTS:
            cases.append(Case(f"{key}={value!r}", _config(root, f"{key}_{value}.json", **{key: value}), key))
    for key in FLOAT_KEYS:
        for value in BAD_FLOATS:
            cases.append(Case(f"{key}={value!r}", _config(root, f"{key}_{value}.json", **{key: value}), key))
    lists = [("alpha", [10, 1, math.nan, 0.01]), ("alpha", [1, 2]), ("beta", "a,b,c,d,e"),
             ("beta", [1, 1, 1, 1, math.inf]), ("features_list", ["nope"]), ("features_list", [])]
    strings = [("architecture", "GAN"), ("loss_function", "l2"), ("device", "tpu"), ("carrier_spectrum", "pink"),
               ("seed", -1), ("seed", 2**70), ("run_name", "../victim"), ("run_name", "/tmp/abs"),
               ("run_name", "a/b"), ("run_name", ".."), ("run_name", ".hidden"), ("run_name", ""),
               ("run_name", "x" * 200), ("run_name", "nul\x00byte"), ("audio_path", ""),
               ("audio_path", "missing.wav"), ("audio_path", "folder"), ("audio_path", "not_audio.wav"),
               ("audio_path", "empty.wav"), ("audio_path", "procedural:lava"),
               ("audio_path", "procedural:rain?foo=1"), ("audio_path", "procedural:rain?seconds=abc"),
               ("audio_path", "procedural:rain?seconds=nan"), ("audio_path", "procedural:rain?seconds=-1"),
               ("audio_path", "procedural:rain?seconds=1e9"), ("audio_path", "procedural:rain?rate=1e12"),
               ("audio_path", "procedural:rain?rate=90000&seconds=3000"),
               ("models_directory", "a_file"), ("models_directory", "/proc/ddsp_runs"),
               ("sampling_rate", 10**9), ("N_filter_bank", 100_000), ("hidden_size_dec", 10**9),
               ("frame_size", 2**40), ("unknown_key", 1)]
    expected = {"seed": "seed", "run_name": "run_name", "models_directory": "models_directory",
                "unknown_key": "unknown_key"}
    for key, value in lists + strings:
        message = expected.get(key, key)
        if key == "audio_path" and value in ("missing.wav", "folder", "not_audio.wav", "empty.wav"):
            message = value
        cases.append(Case(f"{key}={value!r}", _config(root, f"c{len(cases)}.json", **{key: value}), message))
    cases += [
        Case("memory: 4096 × 64 frames of 2^20", _config(root, "mem.json", frame_size=2**20, hop_size=2**19,
                                                         batch_size=4096, sequence_length=64), "GiB"),
        Case("missing audio_path", _config(root, "noaudio.json", audio_path=_DROP), "audio_path"),
        Case("config not UTF-8", ["train", "latin1.json"], "UTF-8"),
        Case("config is a JSON list", ["train", "list.json"], "JSON object"),
        Case("config is broken JSON", ["train", "broken.json"], "not valid JSON"),
        Case("config file missing", ["train", "nope.json"], "nope.json"),
        Case("config is a directory", ["train", "folder"], "folder"),
        Case("run directory in use", _config(root, "busy.json", run_name="busy"), "in use", _hold_lock),
        Case("run directory not empty", _config(root, "taken.json", run_name="taken"), "not empty",
             _occupied_run),
        Case("existing run without retrain", _config(root, "exists.json", models_directory=".", run_name="run"),
             "retrain"),
    ]
    for kind in DAMAGE:
        setup = _damage(kind)
        cases += [Case(f"retrain: {kind}", ["retrain", "run", "--quiet"], "checkpoint.pt", setup),
                  Case(f"resynth: {kind}", ["resynth", "run", "good.wav", "out.wav"], "run/", setup),
                  Case(f"generate: {kind}", ["generate", "run", "gen.wav", "--seconds", "1"], "run/", setup)]
    cases += [
        Case("retrain: edited config.json", ["retrain", "run", "--epochs", "3"], "learning_rate",
             _edit_config_copy),
        Case("retrain --epochs 0", ["retrain", "run", "--epochs", "0"], "--epochs"),
        Case("retrain: no run", ["retrain", "missing_run"], "missing_run"),
        Case("retrain: a file", ["retrain", "a_file"], "a_file"),
        Case("resynth: .mp3 output", ["resynth", "run", "good.wav", "out.mp3"], ".mp3"),
        Case("resynth: output is a directory", ["resynth", "run", "good.wav", "folder"], "folder"),
        Case("resynth: no extension", ["resynth", "run", "good.wav", "out"], ".wav or .flac"),
        Case("resynth: 0-sample input", ["resynth", "run", "empty.wav", "out.wav"], "empty.wav"),
        Case("resynth: input not audio", ["resynth", "run", "not_audio.wav", "out.wav"], "not_audio.wav"),
        Case("resynth: input missing", ["resynth", "run", "gone.wav", "out.wav"], "gone.wav"),
        Case("resynth: run missing", ["resynth", "nowhere", "good.wav", "out.wav"], "nowhere"),
        Case("resynth: --seed -1", ["resynth", "run", "good.wav", "out.wav", "--seed", "-1"], "--seed"),
        Case("resynth: --seed abc", ["resynth", "run", "good.wav", "out.wav", "--seed", "abc"], "--seed"),
        Case("resynth: bad loudness", ["resynth", "run", "good.wav", "out.wav", "--loudness", "max"],
             "--loudness"),
        Case("generate: --seconds nan", ["generate", "run", "gen.wav", "--seconds", "nan"], "seconds"),
        Case("generate: --seconds 0", ["generate", "run", "gen.wav", "--seconds", "0"], "seconds"),
        Case("generate: --seconds 1e9", ["generate", "run", "gen.wav", "--seconds", "1e9"], "seconds"),
        Case("generate: --seconds abc", ["generate", "run", "gen.wav", "--seconds", "abc"], "--seconds"),
        Case("generate: --rate curve", ["generate", "run", "gen.wav", "--rate", "fast"], "rate"),
        Case("generate: --loudness curve", ["generate", "run", "gen.wav", "--loudness", "1:2:3"], "loudness"),
        Case("generate: --like not audio", ["generate", "run", "gen.wav", "--like", "not_audio.wav"],
             "not_audio.wav"),
        Case("generate: .ogg output", ["generate", "run", "gen.ogg"], ".ogg"),
        Case("textures onto a file", ["textures", "a_file", "--seconds", "0.1"], "a_file"),
        Case("textures --seconds nan", ["textures", "tex", "--seconds", "nan"], "--seconds"),
        Case("textures --seconds 0", ["textures", "tex", "--seconds", "0"], "--seconds"),
        Case("textures --sampling-rate 1", ["textures", "tex", "--sampling-rate", "1"], "--sampling-rate"),
        Case("textures --sampling-rate 1e9", ["textures", "tex", "--sampling-rate", "1000000000"],
             "--sampling-rate"),
        Case("--threads 0", ["--threads", "0", "textures", "tex"], "--threads"),
        Case("unknown command", ["explode"], "invalid choice"),
    ]
    return cases


def test_hostile_cli_inputs_fail_cleanly_without_touching_files(tmp_path, trained_run, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    names = [c.name for c in build_cases(_make_sandbox(tmp_path / "probe", trained_run))]
    failures = []
    for i, name in enumerate(names):
        root = _make_sandbox(tmp_path / f"case{i}", trained_run)
        monkeypatch.chdir(root)
        case = build_cases(root)[i]
        if case.setup is not None:
            case.setup(root)
        before = _snapshot(root)
        code, out, err = _run_cli(case.argv)
        after = _snapshot(root)
        error_lines = [line for line in err.splitlines() if "error:" in line]
        problems = []
        if code == "traceback" or "Traceback" in err:
            problems.append("traceback")
        elif code != 2:
            problems.append(f"exit code {code}")
        if len(error_lines) != 1:
            problems.append(f"{len(error_lines)} error lines")
        elif case.message.lower() not in error_lines[0].lower():
            problems.append(f"message lacks {case.message!r}")
        if before != after:
            changed = sorted(set(before) ^ set(after) | {k for k in before if k in after and before[k] != after[k]})
            problems.append(f"files changed: {changed[:4]}")
        if problems:
            failures.append(f"{name}: {', '.join(problems)} | {err.strip()[-300:]}")
        if hasattr(_hold_lock, "handle"):
            _hold_lock.handle.close()
            del _hold_lock.handle
    with capsys.disabled():
        print(f"\nhostile CLI inputs: {len(names)} cases, {len(names) - len(failures)} clean "
              f"(0 tracebacks, 0 data loss, 0 escapes required)")
    assert len(names) >= 120
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------------------------- generated configs
JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=4)), max_size=6),
)
KEYS = [f.name for f in __import__("dataclasses").fields(TrainConfig)] + ["bogus"]
GENERATED = {"count": 0}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, min_size=1, max_size=4))
def test_generated_configs_are_accepted_or_rejected_with_one_config_error(changes):
    GENERATED["count"] += 1
    data = {**TINY, **changes}
    try:
        cfg = parse_config(json.loads(json.dumps(data)))
    except ConfigError as err:
        assert "\n" not in str(err) and str(err)
        return
    # accepted: every number is finite and the run name cannot escape
    for value in cfg.to_dict().values():
        if isinstance(value, float):
            assert math.isfinite(value)
    if cfg.run_name is not None:
        assert "/" not in cfg.run_name and ".." != cfg.run_name


@settings(max_examples=100, deadline=None)
@given(query=st.text(alphabet="abcdefgnorstuiy=&.-0123456789", max_size=30))
def test_generated_procedural_specs_give_a_config_error_or_a_texture(query):
    GENERATED["count"] += 1
    try:
        parse_config({**TINY, "audio_path": f"procedural:rain?{query}"})
    except ConfigError as err:
        assert "audio_path" in str(err)


def test_library_refuses_bad_signals_with_value_errors():
    from ddsp_textures.dsp.filterbanks import erb_bank
    from ddsp_textures.stats.texstat import TexStat
    from ddsp_textures.synths import texenv_resynthesize

    bank = erb_bank(4096, 16000, 8)
    bad = [(lambda: texenv_resynthesize(torch.ones(8192, dtype=torch.int32), bank, 32), "floating-point"),
           (lambda: texenv_resynthesize(torch.full((8192,), math.nan), bank, 32), "NaN"),
           (lambda: texenv_resynthesize(torch.zeros(100), bank, 32), "at least 4096"),
           (lambda: texenv_resynthesize(torch.zeros(2, 8192), bank, 32), "mono"),
           (lambda: TexStat(4096, 16000, 8, 4).statistics(torch.zeros(0, 4096)), "empty batch"),
           (lambda: TexStat(4096, 16000, 8, 4).statistics(torch.ones(1, 4096, dtype=torch.int64)),
            "floating-point"),
           (lambda: TexStat(4096, 16000, 8, 4).statistics(torch.full((1, 4096), math.inf)), "NaN or inf"),
           (lambda: TexStat(4096, 16000, 8, 4, eps=math.nan), "eps")]
    for call, message in bad:
        with pytest.raises(ValueError, match=message):
            call()


def test_silent_input_and_hop_beyond_frame_warn_but_work(tmp_path, trained_run, monkeypatch):
    sf.write(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    monkeypatch.chdir(tmp_path)
    code, out, err = _run_cli(["resynth", str(trained_run), "silent.wav", "out.wav"])
    assert code == 0 and "warning:" in err and "silent" in err and "Traceback" not in err
    assert sf.info(tmp_path / "out.wav").frames == 16000
    with pytest.warns(UserWarning, match="hop_size"):
        parse_config({**TINY, "hop_size": 8192})
    data = (tmp_path / "out.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    code, out, err = _run_cli(["resynth", str(trained_run), "cut.wav", "cut_out.wav"])
    assert code == 0 and "truncated" in err and "Traceback" not in err


def test_two_concurrent_trains_of_one_run_name_never_interleave(tmp_path):
    import subprocess
    import sys

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**TINY, "epochs": 3, "run_name": "same", "models_directory": str(tmp_path / "runs")}))
    command = [sys.executable, "-m", "ddsp_textures", "train", str(cfg), "--quiet"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "Traceback" not in loser and len([x for x in loser.splitlines() if "error:" in x]) == 1
    assert "in use" in loser or "not empty" in loser
    run = tmp_path / "runs" / "same"
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert json.loads(state["config"]) == json.loads((run / "config.json").read_text())
    assert state["epoch"] == 3 and not (run / ".lock").exists()
