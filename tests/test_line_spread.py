"""The bed's envelope lines spread where it pulses alone (synths.line_spread, models.calibration)."""

import math

import numpy as np
import pytest
import torch
from scipy.signal import butter, hilbert, sosfiltfilt

from ddsp_textures.models import TexDSP
from ddsp_textures.models.calibration import calibrate_line_spread
from ddsp_textures.synths.line_spread import SPREAD_RATIOS, spread_kernel, spread_lines
from ddsp_textures.textures import make_texture

FS, L = 16000, 4096


def _numpy_kernel(n: int, ratio: float) -> np.ndarray:
    out = np.zeros((n, n))
    out[0, 0] = 1.0
    for j in range(1, n):
        w = np.array([1.0 / k if 1 <= k and j / ratio <= k <= j * ratio else 0.0 for k in range(n)])
        out[:, j] = w / w.sum()
    return out


def _autocorrelation(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    return float(np.dot(x[:-lag], x[lag:]) / np.dot(x, x))


def _circular_autocorrelation(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    return float(np.dot(x, np.roll(x, lag)) / np.dot(x, x))


def test_spreading_keeps_power_and_phases_and_takes_a_single_lines_period_away():
    np.testing.assert_allclose(spread_kernel(32, 1.5).numpy(), _numpy_kernel(32, 1.5), atol=1e-7)
    assert torch.equal(spread_kernel(32, 1.0), torch.eye(32))
    rng = np.random.default_rng(0)
    c = torch.tensor(rng.standard_normal((3, 32)) + 1j * rng.standard_normal((3, 32)), dtype=torch.complex64)
    out = spread_lines(c, spread_kernel(32, 2.0))
    np.testing.assert_allclose(out.abs().pow(2).sum(-1), c.abs().pow(2).sum(-1), rtol=1e-5)   # per band
    np.testing.assert_allclose(torch.angle(out), torch.angle(c), atol=1e-5)
    # one line at k = 8: the envelope (numpy's irfft) repeats every L/8 samples; spread, it no longer does
    line = torch.zeros(1, 32, dtype=torch.complex64)
    line[0, 0], line[0, 8] = 20.0, 10.0
    envelopes = [np.fft.irfft(np.pad(v[0].numpy(), (0, L // 2 + 1 - 32)), n=L)
                 for v in (line, spread_lines(line, spread_kernel(32, 2.0)))]
    before, after = (_circular_autocorrelation(e, L // 8) for e in envelopes)
    assert before > 0.99 and abs(after) < 0.3
    np.testing.assert_allclose(np.var(envelopes[1]), np.var(envelopes[0]), rtol=1e-4)  # same modulation power


def _pulsing_model() -> TexDSP:
    """A bed whose every frame decodes one strong line at 3·FS/L ≈ 11.7 Hz (an 85-ms pulse), phases fixed."""
    torch.manual_seed(0)
    model = TexDSP(["energy_bands"], L, FS, 8, 32, hidden_enc=8, hidden_dec=8)
    with torch.no_grad():
        last = model.mag_decoder[-1]
        last.weight.zero_()
        bias = torch.full((8, 16), -12.0)
        bias[:, 0], bias[:, 3] = 1.0, 0.5
        last.bias.copy_(bias.reshape(-1))
        model.phase_decoder[-1].weight.zero_()
    return model.eval()


def _upper_envelope(y: np.ndarray) -> np.ndarray:
    """Independent of metrics.events: SciPy's Hilbert envelope above 2 kHz, RMS in 5-ms (80-sample) blocks."""
    band = sosfiltfilt(butter(8, 2000, "highpass", fs=FS, output="sos"), np.asarray(y, dtype=np.float64))
    power = np.abs(hilbert(band)) ** 2
    return np.sqrt(power[: len(power) // 80 * 80].reshape(-1, 80).mean(-1))


def _pulse(y: np.ndarray) -> float:
    """The upper envelope's autocorrelation at the bed's period (L/3 samples)."""
    return _autocorrelation(_upper_envelope(y), round(L / 3 / 80))


def test_calibration_spreads_a_pulsing_bed_until_it_pulses_like_the_audio_and_only_then(tmp_path):
    from ddsp_textures.inference.resynthesis import resynthesize

    noise = np.random.default_rng(1).standard_normal(20 * FS).astype(np.float32)
    model = _pulsing_model()
    before = _pulse(resynthesize(model, noise, seed=0))
    report = calibrate_line_spread(model, noise)
    ratio = float(model.line_spread)
    assert ratio in SPREAD_RATIOS and report is not None and f"x{ratio:g}" in report
    after = _pulse(resynthesize(model, noise, seed=0))
    assert before > 0.6 and after < 0.2 and _pulse(noise) < 0.1
    # training decodes the lines as they are (the calibrated spread is an inference setting), and it is saved
    model.train()
    latent = torch.zeros(1, 1, model.encoder.latent_size)
    assert torch.allclose(model.decode(latent).abs()[0, 0, :, 3], torch.full((8,), math.sqrt(L) / (1 + math.exp(-0.5))))
    restored = _pulsing_model()
    restored.load_state_dict(model.state_dict())
    assert float(restored.line_spread) == ratio and torch.equal(restored.line_kernel, spread_kernel(16, ratio))
    # where generation places a layer over the bed (a crackling fire), the lines stay as decoded
    fire = make_texture("fire", seconds=20, fs=FS, seed=3)
    assert calibrate_line_spread(model, fire) is None and float(model.line_spread) == 1.0
    with pytest.raises(ValueError, match="ratio >= 1"):
        model.set_line_spread(0.5)


def _faint_line_model(line_bias: float) -> TexDSP:
    """:func:`_pulsing_model` with its 11.7-Hz line fainter (the bed's frames still pulse at their own rate)."""
    model = _pulsing_model()
    with torch.no_grad():
        model.mag_decoder[-1].bias.view(8, 16)[:, 3] = line_bias
    return model


def _envelope_peak(y: np.ndarray) -> float:
    """The upper envelope's highest autocorrelation at lags of 50 ms to 1 s."""
    env = _upper_envelope(y)
    return max(_autocorrelation(env, k) for k in range(10, 200))


def test_where_no_spread_reaches_the_headroom_the_least_pulsing_is_kept_and_none_where_none_helps():
    from ddsp_textures.inference.resynthesis import resynthesize

    noise = np.random.default_rng(1).standard_normal(20 * FS).astype(np.float32)
    peaks = {}
    for bias in (-4.0, -7.0):
        model = _faint_line_model(bias)
        for ratio in (1.0, *SPREAD_RATIOS):
            model.set_line_spread(ratio)
            peaks[bias, ratio] = _envelope_peak(resynthesize(model, noise, seed=0))
        model.set_line_spread(1.0)
        report = calibrate_line_spread(model, noise)
        kept = float(model.line_spread)
        if bias == -4.0:    # the line's pulse goes with any spread from x1.5, down to the frames' own (~0.13)
            assert report is not None and kept in (1.5, 2.0)
            assert peaks[bias, kept] < 0.5 * peaks[bias, 1.0] and peaks[bias, kept] <= peaks[bias, 3.0]
            assert _pulse(resynthesize(model, noise, seed=0)) < 0.05
        else:               # no line to spread: the frames' pulse stays, whatever the spread, and so do the lines
            assert report is None and kept == 1.0
            assert min(peaks[bias, r] for r in SPREAD_RATIOS) > 0.95 * peaks[bias, 1.0] > 0.2


def test_runs_saved_before_the_line_spread_and_layer_gain_load_with_the_lines_and_layer_as_they_were(tmp_path):
    from ddsp_textures.training.rundir import load_run
    from ddsp_textures.training.trainer import train
    from tests.test_training import _cfg

    run = train(_cfg(tmp_path, run_name="old", epochs=1), progress=False)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert "line_spread" in state["model"] and "layer_gain" in state["model"]
    del state["model"]["line_spread"], state["model"]["layer_gain"]
    torch.save(state, run / "checkpoint.pt")
    model, _ = load_run(run, "last")
    assert float(model.line_spread) == 1.0 and torch.equal(model.line_kernel, torch.eye(model.n_coeffs))
    assert float(model.layer_gain) == 1.0
    # a damaged value is one clear error, not a NaN in the audio
    from ddsp_textures.training.rundir import CheckpointError

    for key, bad, message in (("line_spread", 0.5, "ratio >= 1, got 0.5"),
                              ("line_spread", float("nan"), "'line_spread' contains NaN"),
                              ("layer_gain", -1.0, "positive, finite factor, got -1.0")):
        torch.save({**state, "model": {**state["model"], key: torch.tensor(bad)}}, run / "checkpoint.pt")
        with pytest.raises(CheckpointError, match=message):
            load_run(run, "last")


def test_the_exported_stream_plays_the_spread_lines_as_the_library_does():
    from ddsp_textures.inference.export import scripted_stream
    from ddsp_textures.inference.streaming import TextureStream

    noise = np.random.default_rng(2).standard_normal(6 * FS).astype(np.float32)
    model = _pulsing_model()
    played = {}
    for ratio in (1.0, 2.0):
        model.set_line_spread(ratio)
        scripted = scripted_stream(model, noise, block_size=1024, transients=None)
        scripted.reset(3)
        exported = torch.cat([scripted.block() for _ in range(12)]).numpy()
        library = TextureStream(model, noise, seed=3, transients=None).read(12 * 1024)
        np.testing.assert_allclose(exported, library, atol=1e-5 * np.abs(library).max())
        played[ratio] = library
    assert np.abs(played[2.0] - played[1.0]).max() > 0.1 * np.abs(played[1.0]).max()
