"""RUN/samples/ and RUN/report.html: written by train, retrain and the report command (ddsp_textures.app.report)."""

import json
import re

import numpy as np
import pytest
import soundfile as sf

from ddsp_textures.app.cli import main
from ddsp_textures.training.rundir import load_history

TINY = {"frame_size": 4096, "hop_size": 2048, "sampling_rate": 16000, "sequence_length": 2,
        "features_list": ["energy_bands", "centroid", "rate"], "hidden_size_enc": 16, "hidden_size_dec": 16,
        "deepness_enc": 1, "deepness_dec": 1, "param_per_env": 32, "N_filter_bank": 8, "M_filter_bank": 4,
        "batch_size": 4, "epochs": 1, "learning_rate": 0.003, "seed": 1}


def _train(tmp_path, seconds: float, *flags: str, **keys):
    cfg = {**TINY, "audio_path": f"procedural:fire?seconds={seconds:g}", "models_directory": str(tmp_path / "runs"),
           "run_name": "fire", **keys}
    path = tmp_path / "fire.json"
    path.write_text(json.dumps(cfg))
    assert main(["train", str(path), "--quiet", *flags]) == 0
    return tmp_path / "runs" / "fire"


def _check_page(page: str, labels: list[str]) -> None:
    assert all(label in page for label in labels)
    sources = re.findall(r"src='([^']*)'", page)
    assert len(sources) == 5 and all(s.startswith("data:") for s in sources)       # 3 players, 2 images
    assert "http" not in page.replace("http-equiv", "")                           # opens offline


def test_train_writes_samples_and_a_self_contained_report(tmp_path, capsys):
    run = _train(tmp_path, 8)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"report: {run / 'report.html'} (samples in {run / 'samples'})"
    for name in ("original", "resynthesis", "generated"):
        data, fs = sf.read(run / "samples" / f"{name}.wav")
        assert fs == 16000 and len(data) == 8 * 16000 and np.isfinite(data).all() and np.abs(data).max() > 0.01
    page = (run / "report.html").read_text()
    _check_page(page, ["original", "resynthesis", "generated", "frame spread"])
    val = load_history(run)["val_loss"]                        # one epoch: the best is epoch 1
    assert (f"Validation loss (what picks the best weights) {val[0]:.3g} before training, best {val[1]:.3g} at epoch 1 "
            f"({100 * (val[1] / val[0] - 1):+.0f} %)") in page
    assert "A P-VAE starts near its end" not in page


def test_a_pvae_report_says_why_its_curve_is_flat(tmp_path):
    run = _train(tmp_path, 8, architecture="PVAE", epochs=2, features_list=["energy_bands", "events"],
                 atoms_number=2, vae_grain_size=512, vae_param_per_env=16, vae_hidden=32, vae_epochs=2)
    val = load_history(run)["val_loss"]
    best = min((1, 2), key=val.__getitem__)
    page = (run / "report.html").read_text()
    assert f"best {val[best]:.3g} at epoch {best}" in page and "A P-VAE starts near its end" in page


def test_report_command_with_a_floor_and_its_errors(tmp_path, capsys):
    run = _train(tmp_path, 44, "--no-report")
    assert not (run / "report.html").exists() and not (run / "samples").exists()
    capsys.readouterr()
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    _check_page(page, ["original (held out)", "held-out audio (floor)", "log-mel FD ÷ floor"])
    capsys.readouterr()
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nope" in err[0]


def test_report_needs_the_training_audio(tmp_path, capsys):
    wav = tmp_path / "in.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal(16000 * 6).astype(np.float32), 16000)
    cfg = {**TINY, "audio_path": str(wav), "models_directory": str(tmp_path / "runs"), "run_name": "noise"}
    (tmp_path / "noise.json").write_text(json.dumps(cfg))
    assert main(["train", str(tmp_path / "noise.json"), "--quiet", "--no-report"]) == 0
    wav.unlink()
    capsys.readouterr()
    assert main(["report", str(tmp_path / "runs" / "noise")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in.wav" in err[0] and "gone" in err[0]


@pytest.mark.parametrize("flag", [[], ["--no-report"]])
def test_retrain_reports_unless_told_not_to(tmp_path, flag, capsys):
    run = _train(tmp_path, 8, "--no-report")
    assert main(["retrain", str(run), "--epochs", "2", "--quiet", *flag]) == 0
    assert (run / "report.html").exists() == (not flag)
