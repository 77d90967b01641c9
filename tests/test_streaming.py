"""Play it live: the stream, its controls and latency, the TorchScript export and the ``stream`` command."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from ddsp_textures.app.cli import main
from ddsp_textures.inference.generation import generate
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.inference.streaming import CONTROL_RAMP_S, StreamCore, TextureStream
from ddsp_textures.metrics import event_statistics
from ddsp_textures.synths import texenv_resynthesize
from ddsp_textures.textures import make_texture
from ddsp_textures.training.rundir import load_run
from ddsp_textures.training.trainer import train

FS = 16000
TINY = {"audio_path": "procedural:rain?seconds=8", "frame_size": 4096, "hop_size": 2048, "sampling_rate": FS,
        "sequence_length": 2, "features_list": ["energy_bands", "centroid", "rate"], "hidden_size_enc": 16,
        "hidden_size_dec": 16, "deepness_enc": 1, "deepness_dec": 1, "param_per_env": 32, "N_filter_bank": 8,
        "M_filter_bank": 4, "batch_size": 4, "epochs": 1, "learning_rate": 0.003, "seed": 1}
EVENTS = {**TINY, "audio_path": "procedural:raindrops?seconds=8&rate=20", "features_list": ["energy_bands", "events"],
          "param_per_env": 16, "atoms_number": 2, "vae_grain_size": 512, "vae_param_per_env": 16, "vae_hidden": 32,
          "vae_epochs": 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = {"TexDSP": train({**TINY, "models_directory": str(root), "run_name": "texdsp"}, progress=False)}
    for arch in ("PVAE", "HYBRID"):
        out[arch] = train({**EVENTS, "architecture": arch, "models_directory": str(root), "run_name": arch.lower()},
                          progress=False)
    return out


def _clicks(seconds: float, rate: float = 4.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = 0.02 * rng.standard_normal(int(seconds * FS))
    for t in np.cumsum(rng.exponential(1 / rate, int(3 * rate * seconds))):
        if t < seconds - 0.01:
            i = int(t * FS)
            x[i: i + 32] += rng.standard_normal(32) * np.exp(-np.arange(32) / 8)
    return x.astype(np.float32)


def _read(stream: TextureStream, sizes: list[int], total: int) -> np.ndarray:
    out, done, k = [], 0, 0
    while done < total:
        n = min(sizes[k % len(sizes)], total - done)
        out.append(stream.read(n))
        done, k = done + n, k + 1
    return np.concatenate(out)


@pytest.mark.parametrize("arch", ["TexDSP", "PVAE", "HYBRID"])
def test_the_stream_is_offline_generate_whatever_the_block_size(runs, arch):
    model, _ = load_run(runs[arch])
    reference = _clicks(10.0) if arch == "TexDSP" else make_texture("raindrops", 8.0, FS, seed=3, rate=20)
    offline = generate(model, 5.0, reference, seed=4)
    stream = TextureStream(model, reference, seed=4)
    small = _read(stream, [256, 300, 16384, 1000], len(offline))
    stream.reset(4)
    large = _read(stream, [8192], len(offline))
    np.testing.assert_array_equal(small, offline)
    np.testing.assert_array_equal(large, offline)
    assert np.isfinite(offline).all() and offline.std() > 0.1
    stream.reset(5)
    assert not np.array_equal(stream.read(4096), offline[:4096])                  # another seed, other audio


def test_a_hybrid_places_the_reference_clicks_over_its_bed_and_a_pvae_takes_none(runs):
    """With its own events silenced, a hybrid's generation has the reference's clicks at the reference's rate by
    default (the layer over its bed), and none without the layer; its resynthesis keeps the input's clicks when
    asked; a P-VAE, with no bed, refuses the layer."""
    model, _ = load_run(runs["HYBRID"])
    model.set_events_enabled(False)
    reference = _clicks(20.0, rate=4.0)
    own = event_statistics(reference, FS).onset_rate
    layered = event_statistics(generate(model, 20.0, reference, seed=0), FS).onset_rate
    bare = event_statistics(generate(model, 20.0, reference, seed=0, transients=None), FS).onset_rate
    assert 3.0 < own < 5.0 and layered == pytest.approx(own, rel=0.25) and bare < own / 4, (own, layered, bare)
    kept = event_statistics(resynthesize(model, reference, transients="clicks"), FS).onset_rate   # the input's
    assert kept == pytest.approx(own, rel=0.25)
    pvae, _ = load_run(runs["PVAE"])
    for call in (lambda: generate(pvae, 2.0, reference, transients="clicks"),
                 lambda: TextureStream(pvae, reference, transients="clicks"),
                 lambda: resynthesize(pvae, reference, transients="clicks")):
        with pytest.raises(ValueError, match="TexEnv bed"):
            call()


def test_generation_places_the_layer_that_the_references_dsp_resynthesis_keeps(runs):
    """By default a TexDSP generation places the layer that ``texenv_resynthesize(..., transients="auto")`` keeps
    on the (unit-RMS) reference: a detector's over clicks on noise, none over steady noise."""
    model, cfg = load_run(runs["TexDSP"])
    noise = (0.1 * np.random.default_rng(1).standard_normal(6 * FS)).astype(np.float32)
    kept, defaults = [], []
    for reference in (_clicks(6.0), noise):
        x = torch.from_numpy(reference / np.sqrt(np.mean(reference.astype(np.float64) ** 2))).float()

        def dsp(mode, x=x):
            return texenv_resynthesize(x, model.bank, cfg.param_per_env, transients=mode,
                                       generator=torch.Generator().manual_seed(0))

        auto = dsp("auto")
        kept.append(next(mode for mode in (False, "clicks", "knocks") if torch.equal(auto, dsp(mode))))
        defaults.append(generate(model, 2.0, reference, seed=2))
        np.testing.assert_array_equal(defaults[-1], generate(model, 2.0, reference, seed=2,
                                                             transients=kept[-1] or None))
    assert kept[0] and kept[1] is False, kept
    assert not np.array_equal(defaults[0], generate(model, 2.0, _clicks(6.0), seed=2, transients=None))


def test_a_control_change_reaches_the_audio_after_the_stated_latency_in_a_ramp(runs):
    model, _ = load_run(runs["TexDSP"])
    reference = _clicks(10.0)
    stream = TextureStream(model, reference, seed=1)
    assert stream.latency == model.frame_size + stream.core.half and stream.core.half > 0
    head = stream.read(10000)
    stream.set_controls(loudness=-20)
    tail = stream.read(70000)
    y = np.concatenate([head, tail])
    steady = TextureStream(model, reference, seed=1).read(80000)
    at, ramp = 10000 + stream.latency, int(round(CONTROL_RAMP_S * FS))
    np.testing.assert_array_equal(y[:at], steady[:at])                             # nothing moves before it
    assert not np.array_equal(y[at: at + ramp], steady[at: at + ramp])
    drop = 20 * np.log10(np.sqrt(np.mean(y[at + ramp + 8000:] ** 2) / np.mean(steady[at + ramp + 8000:] ** 2)))
    assert -23 < drop < -17, drop
    # the same as offline generation with the curve the change made
    curve = f"0:0,{at / FS}:0,{(at + ramp) / FS}:-20"
    np.testing.assert_allclose(y, generate(model, 5.0, reference, loudness=curve, seed=1), atol=1e-6)


def _centroid(y: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(y)) ** 2
    return float((np.fft.rfftfreq(len(y), 1 / FS) * power).sum() / power.sum())


def test_morph_moves_from_one_reference_to_the_other(runs):
    from scipy.signal import butter, sosfilt

    model, _ = load_run(runs["TexDSP"])
    noise = np.random.default_rng(2).standard_normal(FS * 8)
    dark = sosfilt(butter(4, 800, "low", fs=FS, output="sos"), noise).astype(np.float32)
    bright = sosfilt(butter(4, 3000, "high", fs=FS, output="sos"), noise).astype(np.float32)
    stream = TextureStream(model, dark, seed=0, transients=None, morph_reference=bright)
    centroids = []
    for morph in (0.0, 0.5, 1.0):
        stream.reset(0)
        stream.set_controls(morph=morph)
        centroids.append(_centroid(stream.read(FS * 4)[FS:]))
    own = _centroid(dark), _centroid(bright)
    assert centroids[0] < centroids[1] < centroids[2], centroids
    assert abs(np.log(centroids[0] / own[0])) < abs(np.log(centroids[0] / own[1]))      # near the dark one
    assert abs(np.log(centroids[2] / own[1])) < abs(np.log(centroids[2] / own[0]))      # near the bright one


def test_controls_out_of_range_are_clamped_with_one_warning_and_the_audio_stays_finite(runs):
    model, _ = load_run(runs["TexDSP"])
    stream = TextureStream(model, _clicks(6.0), seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            stream.set_controls(loudness=1e9, centroid=float("inf"), rate=-5)
            y = stream.read(20000)
    messages = [str(w.message) for w in caught]
    assert sum("loudness" in m for m in messages) == 1 and sum("centroid" in m for m in messages) == 1
    assert sum("rate" in m for m in messages) == 1 and np.isfinite(y).all()
    stream.set_controls(loudness=float("nan"), centroid=float("nan"), rate=float("nan"))   # the reference's own
    assert np.isfinite(stream.read(20000)).all()
    with pytest.raises(ValueError, match="number"):
        stream.set_controls(loudness="loud")
    with pytest.raises(ValueError, match="block"):
        stream.read(0)


SUBPROCESS = """
import sys, numpy as np, torch
sys.modules["ddsp_textures"] = None                      # the library cannot be imported
try:
    import ddsp_textures
    raise SystemExit("ddsp_textures was importable")
except ImportError:
    pass
m = torch.jit.load(sys.argv[1])
m.reset(3)
m.set_controls(-6.0, float("nan"), float(sys.argv[4]))
y = torch.cat([m.block() for _ in range(int(sys.argv[3]))])
assert tuple(m.block().shape) == (m.block_size,)
np.save(sys.argv[2], y.numpy())
print(m.sample_rate, m.block_size, m.latency)
"""


@pytest.mark.parametrize("arch", ["TexDSP", "PVAE", "HYBRID"])
def test_the_exported_file_streams_without_the_library_and_plays_what_the_library_plays(runs, tmp_path, arch):
    reference = tmp_path / "reference.wav"
    events = arch != "TexDSP"
    sf.write(reference, make_texture("raindrops", 8.0, FS, seed=3, rate=20) if events else _clicks(8.0), FS)
    out = tmp_path / "rain.ts"
    assert main(["export", str(runs[arch]), str(out), "--like", str(reference), "--block-size", "1024"]) == 0
    rate = 40.0 if events else float("nan")                  # the event models' rate steered to twice their own
    result = subprocess.run([sys.executable, "-c", SUBPROCESS, str(out), str(tmp_path / "y.npy"), "40", str(rate)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    model, _ = load_run(runs[arch])
    from ddsp_textures.dsp.audio import load_audio

    stream = TextureStream(model, load_audio(str(reference), FS), seed=3)
    assert result.stdout.split() == ["16000", "1024", str(stream.latency)]
    stream.set_controls(loudness=-6, rate=rate)
    expected = _read(stream, [1024], 40 * 1024)
    assert np.isfinite(expected).all() and expected.std() > 0.05
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5 * np.abs(expected).max())


def test_export_refuses_unknown_models_damaged_weights_and_bad_arguments(runs, tmp_path, capsys):
    from ddsp_textures.inference.export import scripted_stream
    from ddsp_textures.models import TextureModel

    class Unknown(TextureModel):
        architecture, fs, frame_size = "NEW", 16000.0, 1024

    with pytest.raises(ValueError, match="^export needs a TexDSP, P-VAE or hybrid model, got Unknown$"):
        scripted_stream(Unknown(), _clicks(4.0))
    assert main(["export", str(runs["TexDSP"]), str(tmp_path / "x.ts"), "--block-size", "100"]) == 2
    assert "block size must be" in capsys.readouterr().err
    assert main(["export", str(runs["TexDSP"]), str(tmp_path / "x.wav")]) == 2
    assert "must end in .ts" in capsys.readouterr().err
    for arch in ("TexDSP", "PVAE"):
        model, _ = load_run(runs[arch])
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))
        with pytest.raises(ValueError, match="damaged"):
            scripted_stream(model, _clicks(4.0))
    assert not (tmp_path / "x.ts").exists()


def test_the_stream_command_writes_a_wav_as_it_goes_or_raw_pcm_to_stdout(runs, tmp_path, capsysbinary):
    run = str(runs["TexDSP"])
    out = tmp_path / "live.wav"
    assert main(["stream", run, "-o", str(out), "--seconds", "3", "--block-size", "512", "--loudness", "0:0,3:-6"]) == 0
    data, fs = sf.read(out, dtype="float32")
    assert fs == FS and len(data) == 3 * FS
    capsysbinary.readouterr()
    assert main(["stream", run, "-o", "-", "--seconds", "1"]) == 0
    raw = np.frombuffer(capsysbinary.readouterr().out, dtype="<f4")
    assert raw.shape == (FS,) and np.isfinite(raw).all() and raw.std() > 0.001
    # what it streams is what generate writes (scaled to the reference's level), up to 16-bit rounding
    generated = tmp_path / "gen.wav"
    assert main(["generate", run, str(generated), "--seconds", "3", "--loudness", "0:0,3:-6"]) == 0
    offline, _ = sf.read(generated, dtype="float32")
    peak = np.abs(offline).max()
    if peak < 0.98:                                                     # generate scaled nothing down
        np.testing.assert_allclose(data, offline, atol=2 / 32768)
    assert main(["stream", run, "-o", str(tmp_path / "x.mp3"), "--seconds", "1"]) == 2
    assert main(["stream", run, "-o", "-", "--morph", "0.5"]) == 2
    assert b"--morph-to" in capsysbinary.readouterr().err


def test_ctrl_c_stops_the_stream_and_leaves_a_valid_wav(runs, tmp_path, monkeypatch):
    read, calls = StreamCore.read, []

    def interrupted(self, n):
        calls.append(n)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return read(self, n)

    monkeypatch.setattr(StreamCore, "read", interrupted)
    out = tmp_path / "cut.wav"
    assert main(["stream", str(runs["TexDSP"]), "-o", str(out), "--block-size", "1000"]) == 130
    data, fs = sf.read(out)
    assert fs == FS and len(data) == 5000 and np.isfinite(data).all()


def test_a_streamed_texdsp_frame_is_the_models_own_synthesis(runs):
    from ddsp_textures.inference.frame_renderers import bands_per_part
    from ddsp_textures.inference.streaming import renderer_for
    from ddsp_textures.stats.features import feature_dims

    model, _ = load_run(runs["TexDSP"])
    renderer = renderer_for(model)
    dims = feature_dims(model.feature_names, model.n_bands)
    feats = torch.randn(1, 2, sum(dims), generator=torch.Generator().manual_seed(0))
    target = torch.rand(model.n_bands, generator=torch.Generator().manual_seed(1)) + 0.1
    with torch.no_grad():
        plan, _ = renderer.prepare(feats, renderer.initial_state(), target, torch.Generator().manual_seed(2))
        frame = sum(renderer.part(plan, k) for k in range(renderer.parts))
        coeffs = model.decode(model.encode(list(torch.split(feats, dims, dim=-1)))[0])[:, -1:]
        expected = model.synth(coeffs, "specific", target.reshape(1, 1, -1), plan[2].reshape(1, 1))[0, 0]
    assert renderer.parts == -(-model.n_bands // bands_per_part(model.n_bands, model.frame_size))
    assert frame.shape == (model.frame_size,)
    np.testing.assert_allclose(frame.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)


def test_streamed_event_frames_are_the_models_own_synthesis(runs):
    from ddsp_textures.inference.streaming import join_chunk, renderer_for
    from ddsp_textures.stats.features import feature_dims

    for arch, draw in (("PVAE", "atom"), ("PVAE", "mixture"), ("HYBRID", "atom")):
        model, _ = load_run(runs[arch])
        model.vae.draw = draw                        # "mixture": each event sounds its type's decoded blend
        renderer = renderer_for(model)
        dims = feature_dims(model.feature_names, model.n_bands)
        steps = 1 if arch == "PVAE" else 2
        feats = torch.rand(1, steps, sum(dims), generator=torch.Generator().manual_seed(0))
        split = list(torch.split(feats, dims, dim=-1))
        target = torch.rand(model.n_bands + 2 if arch == "HYBRID" else 1, generator=torch.Generator().manual_seed(1))
        target = target + 0.5
        generator = torch.Generator().manual_seed(2)
        with torch.no_grad():
            plan, _ = renderer.prepare(feats, renderer.initial_state(), target, torch.Generator().manual_seed(2))
            parts = [renderer.part(plan, k) for k in range(renderer.parts)]
            chunk = renderer.finish(plan, sum(parts[1:], parts[0]))
            if arch == "PVAE":                       # one frame and its grain tail
                expected = model.stream(split, target, generator)
            else:                                    # the bed's carrier shift is the first draw
                shift = torch.randint(0, model.frame_size, (1,), generator=generator).reshape(1, 1)
                frame = model.synthesize(split, target.reshape(1, 1, -1), shift, frames=torch.tensor([1]),
                                         generator=generator)[0, 0]
                expected = join_chunk(frame, chunk.shape[0] - model.frame_size, int(plan[3][0]))
        assert renderer.parts >= 1 and chunk.shape == expected.shape
        np.testing.assert_allclose(chunk.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
