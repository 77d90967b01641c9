"""Event head, rate supervision and the hybrid (TexEnv bed + P-VAE events) model."""

import json

import numpy as np
import pytest
import torch

from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.dsp.framing import frame_signal, join_circular
from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.models import HybridModel
from ddsp_textures.models.event_head import rate_supervision
from ddsp_textures.stats.features import band_rms, estimate_event_rate
from ddsp_textures.synths.events import relaxed_events
from ddsp_textures.synths.pvae import GrainVAE
from ddsp_textures.textures import make_texture
from ddsp_textures.training.config import ConfigError, parse_config
from ddsp_textures.training.rundir import load_history, load_run
from ddsp_textures.training.trainer import Trainer, retrain, train


def _vae(fs: float = 16000) -> GrainVAE:
    torch.manual_seed(0)
    vae = GrainVAE(512, fs, n_bands=8, param_per_env=16, latent_dim=2, hidden=32)       # dictionary decoder
    vae.set_dictionary(torch.randn(16, 512), torch.Generator().manual_seed(0))
    return vae


def _hybrid_config(tmp_path, **extra) -> dict:
    cfg = {"architecture": "HYBRID", "audio_path": "procedural:raindrops?seconds=8&rate=20", "sampling_rate": 16000,
           "frame_size": 4096, "hop_size": 2048, "sequence_length": 2, "features_list": ["energy_bands", "events"],
           "hidden_size_enc": 16, "hidden_size_dec": 16, "param_per_env": 16, "N_filter_bank": 8,
           "M_filter_bank": 4, "atoms_number": 2, "vae_grain_size": 512, "vae_param_per_env": 16, "vae_hidden": 32,
           "vae_epochs": 2, "batch_size": 4, "epochs": 1, "seed": 1, "models_directory": str(tmp_path),
           "run_name": "hybrid"}
    return {**cfg, **extra}


def _saved_without(run, *keys: str) -> None:
    """Rewrite a run's checkpoints as an earlier release saved them: without the config ``keys``."""
    for name in ("checkpoint.pt", "best_model.pt"):
        state = torch.load(run / name, weights_only=True)
        config = json.loads(state["config"])
        for key in keys:
            del config[key]
        state["config"] = json.dumps(config)
        torch.save(state, run / name)


def test_rate_supervision_is_zero_on_agreement_and_symmetric_in_log_ratio():
    measured = torch.tensor([5.0, 20.0, 80.0])
    assert float(rate_supervision(measured, measured)) == 0.0
    up, down = rate_supervision(2 * measured, measured), rate_supervision(measured / 2, measured)
    assert float(up) == pytest.approx(np.log(2) ** 2) and float(down) == pytest.approx(float(up))
    rate = torch.tensor([10.0], requires_grad=True)
    rate_supervision(rate, torch.tensor([20.0])).backward()
    assert float(rate.grad) < 0                        # pulls a too-low rate up


def test_hybrid_forward_shapes_gain_bounds_and_gradients_reach_both_layers():
    model = HybridModel(["energy_bands", "events"], 4096, 16000, 8, 16, _vae(), atoms=2, hidden_enc=16,
                        hidden_dec=16)
    feats = [torch.randn(2, 3, 8), torch.full((2, 3, 1), 0.2)]
    y, controls = model(feats, with_controls=True)
    rate = controls.rate
    assert y.shape == (2, 3, 4096) and rate.shape == (2, 3) and torch.isfinite(y).all()
    coeffs, c = model.controls(feats)
    assert coeffs.shape == (2, 3, 8, 8) and torch.all((c.gain > 0) & (c.gain < 1))
    assert float(c.gain.detach().mean()) == pytest.approx(0.3, abs=0.05)          # initial share of the events
    assert torch.all((rate >= 10) & (rate <= 40))                         # measured 20/s × [1/2, 2]
    y.pow(2).mean().backward()
    for part in (model.mag_decoder, model.head, model.encoder):
        assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in part.parameters())
    assert all(p.grad is None for p in model.vae.parameters())            # the grain VAE stays frozen
    model.shift_carriers = False
    with torch.no_grad():                                                  # gain → 0: the output is the bed
        model.head[-1].bias[-1] = -60.0
        coeffs, _ = model.controls(feats)
        torch.testing.assert_close(model(feats), model.synth(coeffs), atol=1e-5, rtol=0)


def test_the_training_loss_adds_the_weighted_rate_supervision_and_event_gain_penalty(tmp_path):
    from ddsp_textures.training.builders import build_texstat
    from ddsp_textures.training.losses import TrainingLoss

    cfg = parse_config(_hybrid_config(tmp_path, rate_supervision=2.5, event_gain_penalty=1.5))
    trainer = Trainer(cfg, tmp_path, progress=False)
    assert isinstance(trainer.loss_fn, TrainingLoss) and trainer.loss_fn.needs_controls
    x, *feats = trainer.train_set[torch.arange(2)]
    with torch.no_grad():
        torch.manual_seed(3)
        y, controls = trainer.model(feats, with_controls=True)
        terms = trainer.loss_fn.terms(x, y, controls)
        texstat = build_texstat(cfg)(y.reshape(-1, y.shape[-1]), x.reshape(-1, x.shape[-1]))
    assert list(terms) == ["texstat", "rate", "gain"]
    supervision = 2.5 * rate_supervision(controls.rate, estimate_event_rate(x, 16000))
    assert float(terms["texstat"]) == pytest.approx(float(texstat), rel=1e-5)
    assert float(terms["rate"]) == pytest.approx(float(supervision), rel=1e-6)
    assert float(terms["gain"]) == pytest.approx(1.5 * float(controls.gain.mean()), rel=1e-6)
    assert float(terms["gain"]) == pytest.approx(1.5 * 0.3, abs=0.05)       # the initial share, 0.3
    total = trainer.loss_fn(x, y, controls)
    assert float(total) == pytest.approx(float(texstat + supervision + terms["gain"]), rel=1e-5)
    off = trainer.loss_fn.terms(x, y, controls, events_enabled=False)     # a warm-up epoch: no gain penalty
    assert list(off) == ["texstat", "rate"]



def test_event_gain_penalty_switches_off_events_that_do_not_pay(tmp_path):
    """On a stationary noise (wind) the events only add TexStat error; the penalty drives their share down
    faster (the same seeded run without it: 0.044 after 6 epochs, with it 0.015)."""
    gains = {}
    for penalty in (0.0, 3.0):
        cfg = _hybrid_config(tmp_path, audio_path="procedural:wind?seconds=8", epochs=6, learning_rate=3e-2,
                             event_gain_penalty=penalty, run_name=f"wind_{penalty}")
        model, _ = load_run(train(cfg, progress=False))
        feats = model.features(frame_signal(torch.tensor(make_texture("wind", 4.0, 16000, seed=2)), 4096, 2048)[None])
        with torch.no_grad():
            gains[penalty] = float(model.controls(feats)[1].gain.mean())
    assert gains[3.0] < 0.5 * gains[0.0] < 0.15, gains


def test_hybrid_trains_resumes_and_resynthesises_at_the_input_level(tmp_path):
    run = train(_hybrid_config(tmp_path), progress=False)
    retrain(run, epochs=2, progress=False)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and bool(state["model"]["vae_trained"])
    assert all(np.isfinite(state["history"]["val_loss"]))
    model, cfg = load_run(run)
    assert isinstance(model, HybridModel) and cfg.architecture == "HYBRID"
    x = make_texture("raindrops", 3.0, 16000, seed=9, rate=20)
    equalised = resynthesize(model, x, seed=0)
    eq_db = 20 * torch.log10(model.bed_eq)
    model.set_bed_eq(None)            # the synthesis itself; the bed's equaliser moves band powers by design
    y = resynthesize(model, x, seed=0)
    assert y.shape == x.shape and np.isfinite(y).all()
    if bool((eq_db != 0).any()):
        assert not np.allclose(equalised, y)
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=0.35)
    bank = erb_bank(16000 * 3, 16000, 8)
    level_x, level_y = band_rms(torch.tensor(x), bank), band_rms(torch.tensor(y), bank)
    deviation_db = (20 * torch.log10(level_y / level_x)).abs()
    assert float(deviation_db.max()) < 3.0                      # the input's band loudness, every band
    again = resynthesize(model, x, seed=0)
    np.testing.assert_array_equal(y, again)                                 # seeded


def test_straight_through_events_are_hard_in_value_and_differentiable_in_rate():
    rate = torch.tensor([40.0], requires_grad=True)
    flat = torch.zeros(1)                                # α = 0: amplitudes 1, the train is the indicator
    e = relaxed_events(rate, flat, 160_000, 16000, 0.3, torch.Generator().manual_seed(2), straight_through=True)
    soft = relaxed_events(rate.detach(), flat, 160_000, 16000, 0.3, torch.Generator().manual_seed(2))
    hard = soft > 0.5                                    # the same draws, thresholded
    assert torch.equal(e.detach() > 0.5, hard) and float(e.detach()[~hard].abs().max()) == 0.0
    assert int(hard.sum()) == pytest.approx(400, rel=0.15)
    small = int(((soft > 0.01) & ~hard).sum())           # what a relaxed forward adds: fractional "events"
    assert small > int(hard.sum())
    e.sum().backward()
    assert float(rate.grad) > 0
    alpha = torch.tensor([1.0], requires_grad=True)
    relaxed_events(rate.detach(), alpha, 16000, 16000, 0.3, straight_through=True).sum().backward()
    assert float(alpha.grad) < 0                         # larger α → smaller events


def test_join_circular_keeps_whole_frames_and_the_power_of_uncorrelated_frames():
    gen = torch.Generator().manual_seed(0)
    frames = torch.randn(200, 1000, generator=gen, dtype=torch.float64)
    y = join_circular(frames, 100)
    assert y.shape == (200_000,)
    torch.testing.assert_close(y.reshape(200, 1000)[:, 100:], frames[:, 100:])   # untouched outside the fades
    torch.testing.assert_close(y[:100], frames[0, :100])                         # the first frame is not faded
    boundary = y.reshape(200, 1000)[1:, :100]
    assert float(boundary.pow(2).mean()) == pytest.approx(1.0, abs=0.03)        # power-complementary
    with pytest.raises(ValueError, match="fade"):
        join_circular(frames, 0)


def test_texdsp_resynthesis_joins_whole_frames_of_the_input_length(tmp_path):
    cfg = {**_hybrid_config(tmp_path), "architecture": "TexDSP", "run_name": "texdsp"}
    model, _ = load_run(train(cfg, progress=False))
    x = make_texture("raindrops", 2.1, 16000, seed=9, rate=20)
    for joining in ("circular", "overlap_add"):
        y = resynthesize(model, x, seed=0, joining=joining)
        assert y.shape == x.shape and np.isfinite(y).all()
        assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=0.3)
    with pytest.raises(ValueError, match="joining"):
        resynthesize(model, x, joining="hann")


def test_training_with_bf16_networks_is_finite_and_inference_is_float32(tmp_path):
    run = train(_hybrid_config(tmp_path, mixed_precision="bf16"), progress=False)
    history = torch.load(run / "checkpoint.pt", weights_only=True)["history"]
    assert all(np.isfinite(history["val_loss"])) and np.isfinite(history["train_loss"][-1])
    model, _ = load_run(run)
    assert model.encoder.network_dtype is None                   # inference runs the networks in float32


def test_runs_saved_before_the_decoder_choice_load_with_noise_grains(tmp_path):
    run = train(_hybrid_config(tmp_path, vae_decoder="noise"), progress=False)
    _saved_without(run, "vae_decoder", "vae_dictionary_size")
    model, cfg = load_run(run)
    assert cfg.vae_decoder == "noise" and model.vae.decoder_kind == "noise"
    assert parse_config({"architecture": "HYBRID", "audio_path": "x"}).vae_decoder == "dictionary"   # new runs


def test_event_warmup_trains_the_bed_alone_then_counts_only_epochs_with_events(tmp_path):
    cfg = parse_config(_hybrid_config(tmp_path, epochs=3, event_warmup_epochs=2))
    trainer = Trainer(cfg, tmp_path, progress=False)
    trainer.prepare_grain_vae()                                # events need the grain dictionary
    gain_row = trainer.model.head[-1]
    before = (gain_row.weight[-1].detach().clone(), gain_row.bias[-1].detach().clone())
    trainer.train_epoch(1)                                     # warm-up: the events' gain gets no gradient
    assert not trainer.model.events_enabled
    assert torch.equal(gain_row.weight[-1], before[0]) and torch.equal(gain_row.bias[-1], before[1])
    feats = [t[:1] for t in trainer.train_set[torch.arange(1)][1:]]
    coeffs, controls = trainer.model.controls(feats)
    bed = trainer.model.synth(coeffs, shifts=None)
    with torch.no_grad():                                      # the output is the bed alone
        torch.testing.assert_close(trainer.model.render(coeffs, controls, None), bed)
    trainer.train_epoch(3)                                     # with events: the gain trains
    assert trainer.model.events_enabled and not torch.equal(gain_row.bias[-1], before[1])


def test_event_warmup_run_keeps_its_best_model_from_after_the_warmup(tmp_path):
    run = train(_hybrid_config(tmp_path, epochs=3, event_warmup_epochs=2), progress=False)
    best = torch.load(run / "best_model.pt", weights_only=True)
    history = torch.load(run / "checkpoint.pt", weights_only=True)["history"]
    assert best["epoch"] == 3 and history["epoch"] == [0.0, 1.0, 2.0, 3.0]   # not a bed-only epoch
    model, _ = load_run(run)
    assert model.events_enabled
    with pytest.raises(ConfigError, match="event_warmup_epochs"):
        retrain(run, epochs=2, progress=False)


@pytest.mark.parametrize("extra", [{"event_warmup_epochs": 3, "epochs": 3}, {"event_warmup_epochs": -1},
                                   {"event_warmup_epochs": 1, "epochs": 2, "architecture": "TexDSP"}])
def test_event_warmup_config_errors(tmp_path, extra):
    with pytest.raises(ConfigError, match="event_warmup_epochs"):
        parse_config(_hybrid_config(tmp_path, **extra))


def test_negative_event_gain_penalty_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="event_gain_penalty"):
        parse_config(_hybrid_config(tmp_path, event_gain_penalty=-0.5))


def test_runs_saved_before_the_gain_penalty_resume_without_it(tmp_path):
    """A run saved before ``event_gain_penalty`` (and ``event_warmup_epochs``) existed trained without them: it
    loads and resumes with penalty 0, its older config.json is not taken for an edit, and deleting the key
    from a newer run's config.json is (it would mean 0, not the run's 3)."""
    run = train(_hybrid_config(tmp_path), progress=False)
    _saved_without(run, "event_gain_penalty", "event_warmup_epochs")
    copy = json.loads((run / "config.json").read_text())
    del copy["event_gain_penalty"], copy["event_warmup_epochs"]
    (run / "config.json").write_text(json.dumps(copy))
    assert load_run(run)[1].event_gain_penalty == 0.0
    retrain(run, epochs=2, progress=False)
    assert load_history(run)["epoch"] == [0, 1, 2]
    assert json.loads((run / "config.json").read_text())["event_gain_penalty"] == 0.0
    newer = train(_hybrid_config(tmp_path, run_name="newer"), progress=False)
    copy = json.loads((newer / "config.json").read_text())
    assert copy["event_gain_penalty"] == 3.0
    del copy["event_gain_penalty"]
    (newer / "config.json").write_text(json.dumps(copy))
    with pytest.raises(ConfigError, match="event_gain_penalty"):
        retrain(newer, epochs=2, progress=False)
