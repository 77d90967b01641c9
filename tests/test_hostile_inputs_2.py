"""Hostile inputs, round 2: JSON edge cases, special files, symbolic links, failing writes and output sanity.

Each case asserts: exit code (2 for bad input), exactly one ``error:`` line naming the key, file or option, no
traceback, no hang (subprocesses run under a timeout), nothing left half-written.
"""

import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ddsp_textures.app.cli import main
from ddsp_textures.training.trainer import train

TINY = {"audio_path": "procedural:rain?seconds=6", "frame_size": 4096, "hop_size": 2048, "sampling_rate": 16000,
        "sequence_length": 2, "features_list": ["energy_bands", "centroid", "rate"], "hidden_size_enc": 16,
        "hidden_size_dec": 16, "deepness_enc": 1, "deepness_dec": 1, "param_per_env": 32, "N_filter_bank": 8,
        "M_filter_bank": 4, "batch_size": 4, "epochs": 1, "learning_rate": 0.003, "seed": 1, "run_name": "tiny"}


def _inference(name):
    return importlib.import_module(f"ddsp_textures.inference.{name}")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train({**TINY, "models_directory": str(tmp_path_factory.mktemp("runs"))}, progress=False)


def _cli(args: list[str], cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "ddsp_textures", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _one_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len([ln for ln in lines if ln.startswith("error:")]) == 1, lines
    line = next(ln for ln in lines if ln.startswith("error:"))
    assert all(w in line for w in words), line
    return line


@pytest.mark.parametrize("text, words", [
    ('{"audio_path": "procedural:rain", "epochs": 2, "epochs": 3}', ["epochs", "twice"]),
    ("[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
    ('{"audio_path": "procedural:rain", "epochs": ' + "9" * 5000 + "}", ["epochs"]),
    ('{"audio_path": "procedural:rain", "run_name": "' + "x" * 5_000_000 + '"}', ["run_name"]),
], ids=["duplicate key", "100000 levels", "5000 digits", "5-MB value"])
def test_json_edge_cases_get_one_short_line_naming_the_key(tmp_path, text, words):
    (tmp_path / "c.json").write_text(text)
    line = _one_error(_cli(["train", "c.json"], tmp_path), *words)
    assert len(line) < 500
    assert not (tmp_path / "runs").exists()


def test_a_fifo_as_audio_or_inside_the_audio_folder_never_hangs(tmp_path):
    os.mkfifo(tmp_path / "pipe.wav")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "folder" / "a.wav")
    for source, words in (("pipe.wav", ["pipe.wav", "regular file"]), ("folder", ["no audio files", "folder"])):
        (tmp_path / "c.json").write_text(json.dumps({**TINY, "audio_path": source, "models_directory": "runs"}))
        _one_error(_cli(["train", "c.json"], tmp_path, timeout=60), *words)
        assert not (tmp_path / "runs" / "tiny").exists()


def test_output_to_a_device_is_refused(run, tmp_path):
    _one_error(_cli(["generate", str(run), "/dev/full", "--seconds", "1"], tmp_path), "/dev/full")


def test_an_output_linked_to_the_checkpoint_replaces_the_link_not_the_checkpoint(run, tmp_path):
    checkpoint = run / "checkpoint.pt"
    before = checkpoint.read_bytes()
    link = tmp_path / "out.wav"
    link.symlink_to(checkpoint)
    assert main(["generate", str(run), str(link), "--seconds", "1"]) == 0
    assert checkpoint.read_bytes() == before
    assert not link.is_symlink() and sf.info(str(link)).frames == 16000


def test_a_write_that_fails_half_way_leaves_no_partial_file(run, tmp_path, monkeypatch, capsys):
    def full_disk(path, data, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"RIFF" + bytes(1000))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf, "write", full_disk)
    out = tmp_path / "out.wav"
    assert main(["generate", str(run), str(out), "--seconds", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: cannot access {out}: No space left on device"]
    assert list(tmp_path.iterdir()) == []


def test_loud_output_is_limited_with_a_warning(run, tmp_path):
    proc = _cli(["generate", str(run), "loud.wav", "--seconds", "2", "--loudness", "1000"], tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert any(ln.startswith("warning:") and "full scale" in ln for ln in proc.stderr.splitlines()), proc.stderr
    y, _ = sf.read(tmp_path / "loud.wav")
    assert np.abs(y).max() <= 0.99 + 1e-4 and np.mean(np.abs(y) > 0.9) < 0.05


def test_huge_finite_input_samples_are_refused_or_limited(run, tmp_path):
    x = np.random.default_rng(0).standard_normal(16000 * 2) * 1e30
    sf.write(tmp_path / "huge.wav", x, 16000, subtype="FLOAT")
    proc = _cli(["resynth", str(run), "huge.wav", "out.wav"], tmp_path)
    assert "Traceback" not in proc.stderr
    if proc.returncode == 2:
        _one_error(proc, "huge.wav")
        assert not (tmp_path / "out.wav").exists()
    else:
        y, _ = sf.read(tmp_path / "out.wav")
        assert np.isfinite(y).all() and np.mean(np.abs(y) > 0.9) < 0.05


def test_retrain_epochs_must_exceed_what_was_trained_and_stay_in_range(run, capsys):
    copy = (run / "config.json").read_text()
    for bad in ("1", "1000001"):
        assert main(["retrain", str(run), "--epochs", bad, "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--epochs" in err[0] and bad in err[0], err
    assert (run / "config.json").read_text() == copy
    assert main(["retrain", str(run), "--quiet", "--no-report"]) == 0          # still resumable


def _start_training(tmp_path, epochs: int, seconds: int) -> tuple[subprocess.Popen, object]:
    cfg = {**TINY, "audio_path": f"procedural:rain?seconds={seconds}", "epochs": epochs, "models_directory": "runs",
           "run_name": "slow"}
    (tmp_path / "slow.json").write_text(json.dumps(cfg))
    # the child gets SIGINT's default disposition, as under a terminal: a parent started in the background by a
    # non-interactive shell ignores SIGINT, and the child would inherit that (and never see its Ctrl-C)
    proc = subprocess.Popen([sys.executable, "-m", "ddsp_textures", "train", "slow.json", "--quiet", "--no-report"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return proc, tmp_path / "runs" / "slow"


def _wait_for(path, proc, timeout: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_sigterm_before_the_first_checkpoint_removes_the_run(tmp_path):
    import signal

    proc, run_dir = _start_training(tmp_path, epochs=3, seconds=120)
    _wait_for(run_dir / "config.json", proc)
    assert not (run_dir / "checkpoint.pt").exists()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "terminated; nothing was saved (no epoch had finished)"
    assert not run_dir.exists()


def test_ctrl_c_after_a_checkpoint_names_the_run_to_resume(tmp_path):
    import signal

    proc, run_dir = _start_training(tmp_path, epochs=5000, seconds=6)   # cannot finish before the signal
    _wait_for(run_dir / "checkpoint.pt", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]                  # the run as the user named it: relative to where they are
    assert last == "interrupted; resume with: python -m ddsp_textures retrain runs/slow", last
    assert main(["retrain", str(run_dir), "--epochs", "51", "--quiet", "--no-report"]) == 0


@pytest.mark.parametrize("call, words", [
    (lambda: __import__("ddsp_textures").erb_bank(4096, float("inf"), 8), ["fs", "inf"]),
    (lambda: __import__("ddsp_textures").erb_bank(4096, 16000, 8, low=float("nan")), ["low"]),
    (lambda: _bank().envelopes(__import__("torch").ones(4096, dtype=__import__("torch").int64)), ["x", "int64"]),
    (lambda: _bank().envelopes(__import__("torch").ones(4096).half()), ["x", "float16"]),
    (lambda: _bank().envelopes(__import__("torch").ones(0, 4096)), ["x", "empty"]),
    (lambda: __import__("ddsp_textures").TexStat(4096, 16000, 8, 4, alpha=[float("nan"), 1, 1, 1]), ["alpha"]),
    (lambda: __import__("ddsp_textures").TexStat(4096, 16000, 8, 4, beta=[1, 1, -1, 1, 1]), ["beta"]),
], ids=["fs inf", "low nan", "int64 samples", "float16 samples", "empty batch", "alpha nan", "beta negative"])
def test_library_calls_validate_their_arguments(call, words):
    with pytest.raises(ValueError) as caught:
        call()
    message = str(caught.value)
    assert all(w in message for w in words) and "\n" not in message, message


def _bank():
    from ddsp_textures import erb_bank

    return erb_bank(4096, 16000, 8)


@pytest.mark.parametrize("damage, words", [
    (lambda s: s.update(epoch=-3), ["epoch"]),
    (lambda s: s["history"]["val_loss"].pop(), ["history", "lengths"]),
    (lambda s: s["history"].update(seconds="fast"), ["history", "seconds"]),
], ids=["negative epoch", "history lengths differ", "history not numbers"])
def test_damaged_checkpoint_data_is_refused_naming_the_file(tmp_path, damage, words, capsys):
    import shutil

    import torch

    run = tmp_path / "copy"
    shutil.copytree(train({**TINY, "models_directory": str(tmp_path / "runs")}, progress=False), run)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    damage(state)
    torch.save(state, run / "checkpoint.pt")
    before = (run / "checkpoint.pt").read_bytes()
    assert main(["retrain", str(run), "--epochs", "5", "--quiet", "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint.pt" in err[0] and all(w in err[0] for w in words), err
    assert (run / "checkpoint.pt").read_bytes() == before


def _main_error(capsys, args: list[str], *words: str) -> str:
    code = main(args)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert code == 2 and "Traceback" not in err and len(lines) == 1, err
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def _full_disk_after(calls: int, monkeypatch) -> None:
    """torch.save fails as torch reports a full disk, from its ``calls``-th call on (and the disk is full)."""
    import shutil

    import torch

    import ddsp_textures.training.rundir as rundir

    usage = shutil.disk_usage
    monkeypatch.setattr(rundir.shutil, "disk_usage", lambda path: usage(path)._replace(free=4096))

    save, seen = torch.save, []

    def failing(obj, f, *args, **kwargs):
        seen.append(f)
        if len(seen) >= calls:
            raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 448 vs 380")
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing)


def test_a_full_disk_during_a_checkpoint_is_one_line_and_leaves_a_loadable_run(tmp_path, monkeypatch, capsys):
    from ddsp_textures.training.rundir import load_run

    cfg = {**TINY, "models_directory": str(tmp_path / "runs"), "epochs": 3}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    _full_disk_after(1, monkeypatch)                             # the very first save: nothing to keep
    _main_error(capsys, ["train", str(tmp_path / "c.json"), "--quiet", "--no-report"], "runs/tiny/",
                "No space left")
    assert not (tmp_path / "runs" / "tiny").exists()
    monkeypatch.undo()
    _full_disk_after(4, monkeypatch)                             # epoch 2's saves fail: epoch 1's stay
    _main_error(capsys, ["train", str(tmp_path / "c.json"), "--quiet", "--no-report"], "No space left",
                "is kept")
    monkeypatch.undo()
    run = tmp_path / "runs" / "tiny"
    assert not list(run.glob("*.tmp")) and load_run(run)[0] is not None
    assert main(["retrain", str(run), "--quiet", "--no-report"]) == 0          # and it resumes


def test_a_read_only_run_directory_is_named_as_such(run, monkeypatch, capsys):
    import errno

    import ddsp_textures.training.rundir as rundir

    real = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(".lock") and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, flags, *args)

    monkeypatch.setattr(rundir.os, "open", read_only)
    _main_error(capsys, ["retrain", str(run), "--epochs", "5", "--quiet"], "read-only", str(run))


def test_symbolic_links_never_lead_a_run_outside_its_directory(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    models = tmp_path / "runs"
    models.mkdir()
    (models / "tiny").symlink_to(outside, target_is_directory=True)           # run_name is a link elsewhere
    (tmp_path / "c.json").write_text(json.dumps({**TINY, "models_directory": str(models)}))
    _main_error(capsys, ["train", str(tmp_path / "c.json"), "--quiet"], "symbolic link")
    assert list(outside.iterdir()) == []
    # a run whose files link into another run: retrain would write through them
    first = Path(train({**TINY, "models_directory": str(models), "run_name": "first"}, progress=False))
    second = models / "second"
    second.mkdir()
    for name in ("checkpoint.pt", "config.json", "best_model.pt"):
        (second / name).symlink_to(first / name)
    before = {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()}
    _main_error(capsys, ["retrain", str(second), "--epochs", "3", "--quiet"], "symbolic link")
    assert {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()} == before
    # a dangling lock link: nothing may be created where it points
    for name in ("checkpoint.pt", "config.json", "best_model.pt"):
        (second / name).unlink()
    (second / ".lock").symlink_to(outside / "created-by-lock")
    for name in ("checkpoint.pt", "config.json", "best_model.pt"):
        (second / name).write_bytes((first / name).read_bytes())
    _main_error(capsys, ["retrain", str(second), "--epochs", "3", "--quiet"], ".lock", "symbolic link")
    assert not (outside / "created-by-lock").exists()


def test_a_checkpoint_cannot_send_the_cache_or_the_run_elsewhere(tmp_path, monkeypatch, capsys):
    import torch

    from ddsp_textures.textures import make_texture

    models = tmp_path / "runs"
    sf.write(tmp_path / "rain.wav", make_texture("rain", 6.0, 16000, seed=0), 16000)
    run = Path(train({**TINY, "models_directory": str(models), "lazy_loading": True,
                      "audio_path": str(tmp_path / "rain.wav")}, progress=False))
    assert (models / ".audio_cache").is_dir()
    elsewhere = tmp_path / "elsewhere"
    for name in ("checkpoint.pt", "best_model.pt"):             # a checkpoint whose config points elsewhere
        state = torch.load(run / name, weights_only=True)
        cfg = json.loads(state["config"])
        cfg["models_directory"] = str(elsewhere)
        state["config"] = json.dumps(cfg)
        torch.save(state, run / name)
    (run / "config.json").write_text(json.dumps(cfg))
    import shutil

    shutil.rmtree(models / ".audio_cache")
    monkeypatch.chdir(tmp_path / "runs")                         # another working directory, too
    assert main(["retrain", str(run), "--epochs", "2", "--quiet", "--no-report"]) == 0
    assert not elsewhere.exists() and (models / ".audio_cache").is_dir()


def test_inputs_too_long_for_memory_or_with_a_nonsense_rate_are_refused_naming_the_file(run, tmp_path, monkeypatch,
                                                                                         capsys):
    import ddsp_textures.training.config as config

    one_hz = tmp_path / "one_hz.wav"
    sf.write(one_hz, np.random.default_rng(0).standard_normal(20000).astype(np.float32) * 0.1, 1, subtype="FLOAT")
    for args in (["resynth", str(run), str(one_hz), str(tmp_path / "o.wav")],
                 ["generate", str(run), str(tmp_path / "o.wav"), "--like", str(one_hz)],
                 ["stream", str(run), "-o", str(tmp_path / "o.wav"), "--like", str(one_hz), "--seconds", "1"]):
        _main_error(capsys, args, "one_hz.wav", "1 Hz")
    minute = tmp_path / "minute.wav"
    sf.write(minute, np.zeros(16000 * 60, dtype=np.float32), 16000)
    monkeypatch.setattr(config, "physical_memory", lambda: 64 * 2**20)        # a 64-MiB machine
    _main_error(capsys, ["resynth", str(run), str(minute), str(tmp_path / "o.wav")], "minute.wav", "GiB")
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("call, words", [
    (lambda m: _inference("resynthesis").resynthesize(m, np.zeros(0, np.float32)),
     ["audio", "empty"]),
    (lambda m: _inference("resynthesis").resynthesize(m, np.ones(8000, np.int64)),
     ["audio", "int64", "32768"]),
    (lambda m: _inference("resynthesis").resynthesize(m, np.ones((2, 8000), np.float32)),
     ["audio", "mono"]),
    (lambda m: _inference("generation").generate(m, 1.0, np.ones(8000, np.int16)),
     ["reference", "int16"]),
    (lambda m: _inference("generation").generate(m, 1.0, np.zeros(0), variation="mean"),
     ["reference", "empty"]),
    (lambda m: _inference("streaming").TextureStream(m, np.full(8000, np.nan)),
     ["reference", "NaN"]),
    (lambda m: _inference("streaming").TextureStream(m, np.ones(8000)).read(2**21),
     ["block"]),
], ids=["resynth empty", "resynth int64", "resynth stereo", "generate int16", "generate empty", "stream nan",
        "stream huge block"])
def test_model_calls_validate_their_audio(run, call, words):
    from ddsp_textures.training.rundir import load_run

    model, _ = load_run(run)
    with pytest.raises(ValueError) as caught:
        call(model)
    message = str(caught.value)
    assert all(w in message for w in words) and "\n" not in message, message


@pytest.mark.parametrize("damage", ["truncated", "random bytes", "NaN-filled"])
def test_a_damaged_cache_entry_is_detected_and_rebuilt_with_a_warning(tmp_path, damage):
    from ddsp_textures.textures import make_texture

    sf.write(tmp_path / "rain.wav", make_texture("rain", 6.0, 16000, seed=0), 16000)
    cfg = {**TINY, "models_directory": str(tmp_path / "runs"), "lazy_loading": True,
           "audio_path": str(tmp_path / "rain.wav")}
    train({**cfg, "run_name": "first"}, progress=False)
    entry = next((tmp_path / "runs" / ".audio_cache").glob("rain-*.npy"))
    good = np.load(entry).copy()
    raw = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(raw[: len(raw) // 2])
    elif damage == "random bytes":
        entry.write_bytes(np.random.default_rng(0).bytes(len(raw)))
    else:
        np.save(entry, np.full_like(good, np.nan))
    with pytest.warns(UserWarning, match="cache entry .* is damaged"):
        train({**cfg, "run_name": "second"}, progress=False)
    np.testing.assert_array_equal(np.load(entry), good)


def test_a_ctrl_c_while_a_run_file_is_written_keeps_the_previous_file(tmp_path, monkeypatch):
    from ddsp_textures.training.rundir import atomic_write_text

    path = tmp_path / "config.json"
    atomic_write_text(path, '{"epochs": 3}')
    real = Path.write_text

    def interrupted(self, text, *args, **kwargs):             # half the text reaches the disk, then Ctrl-C
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, '{"epochs": 51, "seed": 7}')
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"epochs": 3}     # the previous file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]      # and no temporary file left
