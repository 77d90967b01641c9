"""Data-parallel training under torchrun: two gloo ranks on the CPU equal one process with twice the batch."""

import json
import subprocess
import sys

import pytest
import torch

from ddsp_textures.training.distributed import Ranks, shard

CONFIG = {"audio_path": "procedural:rain?seconds=8", "sampling_rate": 16000, "frame_size": 4096, "hop_size": 2048,
          "sequence_length": 2, "features_list": ["energy_bands", "centroid"], "hidden_size_enc": 16,
          "hidden_size_dec": 16, "param_per_env": 16, "N_filter_bank": 8, "M_filter_bank": 4, "epochs": 2, "seed": 0,
          "shift_carriers": False, "learning_rate": 0.003, "device": "cpu"}   # 24 train items: batches split evenly


def _run(tmp_path, ranks: int, *args: str) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"]
    cmd = (launcher if ranks > 1 else [sys.executable]) + ["-m", "ddsp_textures", "--threads", "1", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _state(run):
    return torch.load(run / "checkpoint.pt", weights_only=True)


def test_shards_are_contiguous_and_cover_the_global_batch():
    batch = torch.arange(10)
    parts = [shard(batch, Ranks(r, 3, r)) for r in range(3)]
    assert torch.equal(torch.cat(parts), batch) and [len(p) for p in parts] == [4, 3, 3]
    assert torch.equal(shard(batch, Ranks()), batch)


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process_with_twice_the_batch_and_resume(tmp_path):
    runs = tmp_path / "runs"
    for name, ranks, batch in (("two", 2, 2), ("one", 1, 4)):
        cfg = {**CONFIG, "batch_size": batch, "models_directory": str(runs), "run_name": name}
        (tmp_path / f"{name}.json").write_text(json.dumps(cfg))
        proc = _run(tmp_path, ranks, "train", f"{name}.json")
        assert proc.stdout.count("trained:") == 1                     # rank 0 alone reports
        if ranks == 2:
            assert "world size 2" in proc.stdout + proc.stderr
    two, one = _state(runs / "two"), _state(runs / "one")
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key], value, rtol=1e-5, atol=1e-5)
    for key in ("val_loss", "train_loss"):
        torch.testing.assert_close(torch.tensor(two["history"][key][1:]), torch.tensor(one["history"][key][1:]),
                                   rtol=1e-5, atol=1e-5)
    assert sorted(p.name for p in (runs / "two").iterdir()) == sorted(p.name for p in (runs / "one").iterdir())
    # resume both runs for one more epoch: still equal
    _run(tmp_path, 2, "retrain", str(runs / "two"), "--epochs", "3")
    _run(tmp_path, 1, "retrain", str(runs / "one"), "--epochs", "3")
    two, one = _state(runs / "two"), _state(runs / "one")
    assert two["epoch"] == one["epoch"] == 3
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key], value, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_a_bad_start_under_torchrun_is_the_same_error_line_on_every_rank(tmp_path):
    (tmp_path / "runs" / "busy").mkdir(parents=True)
    (tmp_path / "runs" / "busy" / "notes.txt").write_text("mine")
    cfg = {**CONFIG, "models_directory": str(tmp_path / "runs"), "run_name": "busy"}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(launcher + ["-m", "ddsp_textures", "--threads", "1", "train", "c.json", "--quiet"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode != 0 and len(lines) == 2 and lines[0] == lines[1], proc.stderr[-2000:]
    assert "is not empty" in lines[0] and "[rank" not in proc.stderr            # no rank printed a traceback
    assert (tmp_path / "runs" / "busy" / "notes.txt").read_text() == "mine"
