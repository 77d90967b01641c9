import numpy as np
import pytest
import soundfile as sf
import torch

from ddsp_textures.cli import main
from ddsp_textures.generation import curve_values, generate, parse_curve
from ddsp_textures.rundir import load_run
from ddsp_textures.training import train

TINY = {"audio_path": "procedural:rain?seconds=8", "frame_size": 4096, "hop_size": 2048, "sampling_rate": 16000,
        "sequence_length": 2, "features_list": ["energy_bands", "centroid", "rate"], "hidden_size_enc": 16,
        "hidden_size_dec": 16, "deepness_enc": 1, "deepness_dec": 1, "param_per_env": 32, "N_filter_bank": 8,
        "M_filter_bank": 4, "batch_size": 4, "epochs": 1, "learning_rate": 0.003, "seed": 1}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train({**TINY, "models_directory": str(tmp_path_factory.mktemp("runs"))}, progress=False)


def test_curves_are_parsed_and_interpolated():
    assert parse_curve("0:-6, 10:0") == [(0.0, -6.0), (10.0, 0.0)]
    np.testing.assert_allclose(curve_values("0:-6,10:0", np.array([-1.0, 0, 5, 10, 20])), [-6, -6, -3, 0, 0])
    np.testing.assert_allclose(curve_values(2.5, np.array([0.0, 7.0])), [2.5, 2.5])
    for bad, message in [("0:a", "cannot read"), ("5:1,2:3", "increasing"), ("", "empty"), ("0:nan", "finite")]:
        with pytest.raises(ValueError, match=message):
            parse_curve(bad)


def test_generated_loudness_follows_the_curve(run):
    model, _ = load_run(run)
    reference = np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32)
    y = generate(model, 6.0, reference, loudness="0:0,2.9:0,3.1:-20,6:-20", seed=0)
    assert y.shape == (96000,) and y.dtype == np.float32 and np.isfinite(y).all()
    loud, quiet = y[4000:40000], y[56000:92000]
    drop = 20 * np.log10(np.sqrt((quiet**2).mean()) / np.sqrt((loud**2).mean()))
    assert -23 < drop < -17, drop


def test_feature_curves_reach_the_model(run, monkeypatch):
    model, _ = load_run(run)
    seen = {}

    def spy(features, loudness, target, shifts, frames):
        seen["features"], seen["mode"], seen["target"] = features, loudness, target
        assert target.shape[1] == shifts.shape[1] == len(frames)
        return torch.zeros(1, len(frames), model.frame_size)

    monkeypatch.setattr(model, "synthesize", spy)
    generate(model, 4.0, np.random.default_rng(0).standard_normal(16000 * 2), centroid="0:500,4:4000", rate=12)
    energy, centroid, rate = seen["features"]
    assert bool((centroid[0, 1:, 0] >= centroid[0, :-1, 0]).all()) and float(centroid[0, -1, 0]) > 0.5
    np.testing.assert_allclose(rate[0, :, 0].numpy(), 1.2, rtol=1e-6)          # 12 events/s = feature 1.2
    assert seen["mode"] == "specific" and seen["target"].shape[-1] == energy.shape[-1]
    with pytest.raises(ValueError, match="seconds"):
        generate(model, float("nan"), np.zeros(16000))


def test_generate_command_writes_the_requested_length(run, tmp_path, capsys):
    out = tmp_path / "long.wav"
    assert main(["generate", str(run), str(out), "--seconds", "5", "--loudness", "0:0,5:-12", "--rate", "20"]) == 0
    data, fs = sf.read(out)
    assert fs == 16000 and len(data) == 80000 and np.abs(data).max() > 0.01
    assert main(["generate", str(run), str(tmp_path / "x.wav"), "--centroid", "0:abc"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: centroid: cannot read")
