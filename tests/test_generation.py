import numpy as np
import pytest
import soundfile as sf
import torch

from ddsp_textures.app.cli import main
from ddsp_textures.inference.generation import LOOP_FADE_S, curve_values, generate, parse_curve, reference_layer
from ddsp_textures.textures import make_texture
from ddsp_textures.training.data import load_sources
from ddsp_textures.training.rundir import load_run
from ddsp_textures.training.trainer import train

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
    reference = np.random.default_rng(0).standard_normal(16000 * 2)
    generate(model, 4.0, reference, centroid="0:500,4:4000", rate=12, variation="mean")
    energy, centroid, rate = seen["features"]
    assert bool((centroid[0, 1:, 0] >= centroid[0, :-1, 0]).all()) and float(centroid[0, -1, 0]) > 0.5
    np.testing.assert_allclose(rate[0, :, 0].numpy(), 1.2, rtol=1e-6)          # 12 events/s = feature 1.2
    assert seen["mode"] == "specific" and seen["target"].shape[-1] == energy.shape[-1]
    # bootstrapped: the reference's own trajectory, scaled so that its mean over the reference follows the curve
    encode, steps = model.encode, []

    def spy_encode(features, state=None):
        steps.append(features[2][0, :, 0])
        return encode(features, state)

    monkeypatch.setattr(model, "encode", spy_encode)
    generate(model, 20.0, reference, rate=12, transients=None)
    rate = torch.cat(steps)
    assert len(steps) - 1 <= 20 * 16000 // 4096 + 1 <= len(steps)        # (one frame may be prepared ahead)
    assert rate.numel() == 2 * len(steps)                                 # two GRU steps a frame
    assert float(rate.mean()) == pytest.approx(1.2, rel=0.2) and float(rate.std()) > 0.01
    with pytest.raises(ValueError, match="seconds"):
        generate(model, float("nan"), np.zeros(16000))


def test_generate_command_writes_the_requested_length(run, tmp_path, capsys):
    out = tmp_path / "long.wav"
    assert main(["generate", str(run), str(out), "--seconds", "5", "--loudness", "0:0,5:-12", "--rate", "20"]) == 0
    data, fs = sf.read(out)
    assert fs == 16000 and len(data) == 80000 and np.abs(data).max() > 0.01
    model, cfg = load_run(run)                   # it says which layer it placed: the reference's own choice
    layer = reference_layer(model, "default", load_sources(cfg.audio_path, 16000, cfg.seed)[0])
    assert f"transient layer: {layer or 'none'}\n" in capsys.readouterr().err
    assert main(["generate", str(run), str(tmp_path / "x.wav"), "--centroid", "0:abc"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: centroid: cannot read")


def _gated_noise(seconds: float, fs: int = 16000, period_s: float = 3.0) -> np.ndarray:
    """White noise whose level alternates between 1 and 0.1 every ``period_s / 2`` seconds."""
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * fs)) / fs
    return (rng.standard_normal(t.size) * np.where((t % period_s) < period_s / 2, 1.0, 0.1)).astype(np.float32)


def _frame_levels(y: np.ndarray, length: int = 4096) -> np.ndarray:
    frames = y[: len(y) // length * length].reshape(-1, length)
    return np.sqrt((frames**2).mean(-1))


def test_bootstrapped_generation_varies_like_the_reference_and_mean_generation_does_not(run):
    model, _ = load_run(run)
    reference = _gated_noise(24.0)
    spread = {}
    for variation in ("bootstrap", "mean"):
        levels = _frame_levels(generate(model, 30.0, reference, seed=3, variation=variation, transients=None))
        spread[variation] = np.percentile(levels, 90) / np.percentile(levels, 10)
    own = _frame_levels(reference)
    own_spread = np.percentile(own, 90) / np.percentile(own, 10)
    assert own_spread > 8 and own_spread / 2 < spread["bootstrap"] < own_spread * 2, (own_spread, spread)
    assert spread["mean"] < 1.5, spread


def _clicks(seconds: float, rate: float, fs: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 0.02 * rng.standard_normal(int(seconds * fs))
    times = np.cumsum(rng.exponential(1 / rate, int(3 * rate * seconds)))
    for t in times[times < seconds - 0.01]:
        i = int(t * fs)
        x[i: i + 32] += rng.standard_normal(32) * np.exp(-np.arange(32) / 8)
    return x.astype(np.float32)


def test_generated_crackles_keep_the_reference_event_rate_and_the_rate_curve_steers_them(run):
    from ddsp_textures.metrics import event_statistics

    model, _ = load_run(run)
    reference = _clicks(30.0, 4.0)
    own = event_statistics(reference, 16000)
    after = event_statistics(generate(model, 30.0, reference, seed=1), 16000)
    before = event_statistics(generate(model, 30.0, reference, seed=1, variation="mean"), 16000)
    assert own.onset_rate == pytest.approx(after.onset_rate, rel=0.25), (own, after)
    assert after.periodicity < own.periodicity + 0.1 and after.peak_to_median > own.peak_to_median / 2
    assert before.onset_rate < own.onset_rate / 2, before                       # the average frame: no crackle
    doubled = event_statistics(generate(model, 30.0, reference, seed=1, rate=2 * own.onset_rate), 16000)
    assert doubled.onset_rate == pytest.approx(2 * after.onset_rate, rel=0.25), (after, doubled)


def test_replace_events_draws_the_layer_intervals_and_follows_the_rate_curve():
    from ddsp_textures.inference.generation import replace_events
    from ddsp_textures.synths.transients import Transients

    times = torch.tensor([1000, 1500, 3500, 4000, 6000, 6500])          # intervals 500 and 2000 samples
    layer = Transients(torch.ones(2, 9), times, torch.tensor([0, 1, 0, 1, 0, 1]), torch.arange(1.0, 7.0), 8000,
                       fs=1000.0)
    new = replace_events(layer, 400_000, torch.Generator().manual_seed(0))
    steps = torch.diff(new.times)
    assert set(steps.tolist()) <= {500, 2000} and 0.3 < float((steps == 500).float().mean()) < 0.7
    assert set(new.gains.tolist()) <= set(layer.gains.tolist())
    faster = replace_events(layer, 400_000, torch.Generator().manual_seed(0), rate=2 * layer.rate(), loudness=-6)
    assert faster.times.numel() == pytest.approx(2 * new.times.numel(), rel=0.1)
    assert float(faster.gains.max()) == pytest.approx(6.0 * 10 ** (-6 / 20), rel=1e-6)


@pytest.mark.parametrize("architecture", ["PVAE", "HYBRID"])
def test_event_models_generate_and_their_rate_curve_steers_the_events(tmp_path, architecture, monkeypatch):
    cfg = {"architecture": architecture, "audio_path": "procedural:raindrops?seconds=8&rate=20",
           "sampling_rate": 16000, "frame_size": 4096, "hop_size": 2048, "sequence_length": 2,
           "features_list": ["energy_bands", "events"], "hidden_size_enc": 16, "hidden_size_dec": 16,
           "param_per_env": 16, "N_filter_bank": 8, "M_filter_bank": 4, "atoms_number": 2, "vae_grain_size": 512,
           "vae_param_per_env": 16, "vae_hidden": 32, "vae_epochs": 2, "batch_size": 4, "epochs": 1, "seed": 1,
           "models_directory": str(tmp_path), "run_name": architecture.lower()}
    run = train(cfg, progress=False)
    out = tmp_path / "gen.wav"
    assert main(["generate", str(run), str(out), "--seconds", "6"]) == 0
    data, fs = sf.read(out)
    assert fs == 16000 and len(data) == 96000 and np.isfinite(data).all() and np.abs(data).max() > 0.01
    model, _ = load_run(run)
    controls, rates = model.head.controls, []

    def spy(*args):
        c = controls(*args)
        rates.append(c.rate)
        return c

    monkeypatch.setattr(model.head, "controls", spy)
    reference = make_texture("raindrops", 8.0, 16000, seed=3, rate=20)
    seen = []
    for rate in (3, 30):
        rates.clear()
        y = generate(model, 6.0, reference, rate=rate, seed=0)
        assert np.isfinite(y).all() and y.shape == (96000,)
        seen.append(float(torch.cat([r.reshape(-1) for r in rates]).mean()))
    # the learned rate is the measured one times a factor in [1/2, 2]: the curve moves it tenfold
    assert 3 / 2 <= seen[0] <= 3 * 2 and 30 / 2 <= seen[1] <= 30 * 2, seen


def test_a_loop_joins_its_end_to_its_start_without_a_click(run, tmp_path):
    model, _ = load_run(run)
    reference = _clicks(10.0, 4.0)
    y = generate(model, 3.0, reference, seed=2, loop=True)
    assert y.shape == (48000,) and np.isfinite(y).all()
    steps = np.abs(np.diff(y))
    wrap = abs(float(y[0]) - float(y[-1]))
    assert wrap <= np.percentile(steps, 95), (wrap, np.percentile(steps, 95))
    # exactly: on repeat, the loop's last sample is followed by what followed it in one longer generation
    fade = int(LOOP_FADE_S * 16000)
    longer = generate(model, 3.0 + fade / 16000, reference, seed=2)
    np.testing.assert_array_equal(y[fade:], longer[fade:48000])
    assert y[0] == pytest.approx(longer[48000], abs=1e-6)
    # on steady noise the equal-power crossfade keeps the level: the first 0.25 s as loud as the rest
    noise = generate(model, 3.0, np.random.default_rng(1).standard_normal(16000 * 6), seed=2, loop=True)
    head, rest = np.sqrt(np.mean(noise[:4000] ** 2)), np.sqrt(np.mean(noise[4000:] ** 2))
    assert abs(20 * np.log10(head / rest)) < 1.5
    out = tmp_path / "loop.wav"
    assert main(["generate", str(run), str(out), "--seconds", "2", "--loop", "--like", str(_write(tmp_path))]) == 0
    data, _ = sf.read(out)
    assert len(data) == 32000 and abs(data[0] - data[-1]) <= np.percentile(np.abs(np.diff(data)), 95)


def _write(tmp_path):
    path = tmp_path / "clicks.wav"
    sf.write(path, _clicks(6.0, 4.0), 16000)
    return path


def test_a_rate_curve_needs_something_it_can_steer():
    from ddsp_textures.training.builders import build_model
    from ddsp_textures.training.config import parse_config

    model = build_model(parse_config({**TINY, "features_list": ["energy_bands"]})).eval()
    reference = _clicks(4.0, 4.0)
    with pytest.raises(ValueError, match="no 'rate' or 'events' input"):
        generate(model, 2.0, reference, rate=5, transients=None)
    y = generate(model, 2.0, reference, rate=5)                # the transient layer's events follow it
    assert y.shape == (32000,) and np.isfinite(y).all()
