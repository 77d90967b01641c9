"""Hostile inputs, round 2: JSON edge cases, special files, symbolic links, failing writes and output sanity.

Each case asserts: exit code (2 for bad input), exactly one ``error:`` line naming the key, file or option, no
traceback, no hang (subprocesses run under a timeout), nothing left half-written.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ddsp_textures.cli import main
from ddsp_textures.training import train

TINY = {"audio_path": "procedural:rain?seconds=6", "frame_size": 4096, "hop_size": 2048, "sampling_rate": 16000,
        "sequence_length": 2, "features_list": ["energy_bands", "centroid", "rate"], "hidden_size_enc": 16,
        "hidden_size_dec": 16, "deepness_enc": 1, "deepness_dec": 1, "param_per_env": 32, "N_filter_bank": 8,
        "M_filter_bank": 4, "batch_size": 4, "epochs": 1, "learning_rate": 0.003, "seed": 1, "run_name": "tiny"}


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
