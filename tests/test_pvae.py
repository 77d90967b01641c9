import json

import numpy as np
import pytest
import torch

from ddsp_textures.app.cli import main
from ddsp_textures.models import PVAEModel
from ddsp_textures.stats.features import estimate_event_rate
from ddsp_textures.synths.events import hard_events, join_frames, place_grains, relaxed_events, sparse_hard_events
from ddsp_textures.synths.pvae import GrainVAE, pvae_synthesis
from ddsp_textures.textures import make_texture
from ddsp_textures.training.config import load_config
from ddsp_textures.training.grain_training import extract_grains, train_grain_vae
from ddsp_textures.training.trainer import retrain, train
from tests.test_training import ROOT


def test_relaxed_events_follow_the_rate_and_are_differentiable():
    rate = torch.tensor([10.0, 100.0], requires_grad=True)
    alpha = torch.tensor([1.0, 2.0], requires_grad=True)
    e = relaxed_events(rate, alpha, 16000 * 20, 16000, temperature=0.05, generator=torch.Generator().manual_seed(0))
    assert e.shape == (2, 320000) and torch.isfinite(e).all()
    indicator = relaxed_events(rate.detach(), torch.zeros(2), 320000, 16000, 0.05, torch.Generator().manual_seed(0))
    counts = (indicator > 0.5).sum(-1).float()
    np.testing.assert_allclose(counts.numpy(), [200, 2000], rtol=0.15)
    # amplitudes V^alpha: mean 1/(1+alpha)
    amp = e[1].detach()[indicator[1] > 0.5] / indicator[1][indicator[1] > 0.5]
    assert float(amp.mean()) == pytest.approx(1 / 3, abs=0.03)
    e.sum().backward()
    assert torch.isfinite(rate.grad).all() and (rate.grad.abs() > 0).all()
    assert torch.isfinite(alpha.grad).all() and (alpha.grad < 0).all()     # larger α → smaller events


def test_hard_events_count_is_poisson():
    e = hard_events(torch.full((100,), 20.0), torch.ones(100), 16000, 16000, torch.Generator().manual_seed(1))
    counts = (e > 0).sum(-1).float()
    assert float(counts.mean()) == pytest.approx(20, rel=0.1)
    assert float(counts.var()) == pytest.approx(20, rel=0.4)


@pytest.mark.parametrize("p", [0.004, 0.08])             # the sparse draw, and the per-sample one above 0.05
def test_hard_events_are_bernoulli_per_sample(p):
    """Counts per row against SciPy's binomial law, times uniform and distinct, amplitudes V^α against the
    uniform law of a^(1/α) (Kolmogorov–Smirnov), and the dense train is the list's."""
    from scipy import stats

    rows_n, n, fs, alpha = 4000, 500, 1000.0, 2.0
    rate, alphas = torch.full((rows_n,), p * fs), torch.full((rows_n,), alpha)
    rows, at, amplitude = sparse_hard_events(rate, alphas, n, fs, torch.Generator().manual_seed(5))
    counts = np.bincount(rows.numpy(), minlength=rows_n)
    values = np.arange(counts.max() + 1)
    expected = stats.binom.pmf(values, n, p) * rows_n
    keep = expected > 5                                        # chi-square over the well-populated counts
    observed = np.bincount(counts, minlength=len(values))
    chi2 = (((observed - expected)[keep]) ** 2 / expected[keep]).sum()
    assert chi2 < stats.chi2.ppf(0.999, keep.sum() - 1)
    assert counts.mean() == pytest.approx(n * p, rel=0.03) and counts.var() == pytest.approx(n * p * (1 - p), rel=0.1)
    key = rows.numpy() * n + at.numpy()
    assert len(np.unique(key)) == len(key) and (np.diff(key) > 0).all()     # distinct, in row-major order
    assert stats.chisquare(np.bincount(at.numpy(), minlength=n)).pvalue > 1e-3
    assert stats.kstest(amplitude.numpy() ** (1 / alpha), "uniform").pvalue > 1e-3
    dense = hard_events(rate, alphas, n, fs, torch.Generator().manual_seed(5))
    expected_dense = np.zeros((rows_n, n), dtype=np.float32)
    expected_dense[rows.numpy(), at.numpy()] = amplitude.numpy()
    np.testing.assert_array_equal(dense.numpy(), expected_dense)


def test_grains_start_at_their_event_not_mirrored():
    events = torch.zeros(2, 3, 50)
    events[0, 1, 7] = 1.0
    events[1, 2, 40] = 0.5
    grains = torch.arange(1.0, 2 * 3 * 5 + 1).reshape(2, 3, 5)
    y = place_grains(events, grains)
    torch.testing.assert_close(y[0, 7:12], grains[0, 1])
    assert float(y[0, :7].abs().max()) < 1e-5 and float(y[0, 12:].abs().max()) < 1e-5
    # circular: the grain at 40 fits; linear with tail matches numpy convolution
    frame, tail = place_grains(events, grains, circular=False)
    full = sum(np.convolve(events[1, k].numpy(), grains[1, k].numpy()) for k in range(3))
    np.testing.assert_allclose(torch.cat([frame[1], tail[1]]).numpy(), full, atol=1e-5)


def test_streamed_frames_equal_one_long_convolution():
    rng = np.random.default_rng(0)
    ev = (rng.random((1, 4 * 64)) < 0.05) * rng.random((1, 4 * 64))
    grain = rng.normal(size=(1, 90))
    frames, tails = place_grains(torch.tensor(ev.reshape(1, 4, 64).transpose(1, 0, 2)),
                                 torch.tensor(grain).expand(4, 1, 90), circular=False)
    streamed = join_frames(frames, tails)
    np.testing.assert_allclose(streamed.numpy(), np.convolve(ev[0], grain[0]), atol=1e-9)


@pytest.mark.parametrize("rate", [5, 20, 80])
def test_event_rate_estimate_within_25_percent(rate):
    fs = 22050
    x = torch.stack([torch.tensor(make_texture("raindrops", 20.0, fs, seed=s, rate=rate)) for s in range(3)])
    est = estimate_event_rate(x, fs)
    assert torch.all((est - rate).abs() <= 0.25 * rate), est


def _vae(fs=16000):
    torch.manual_seed(0)
    return GrainVAE(512, fs, n_bands=8, param_per_env=16, latent_dim=2, hidden=32, seed=1, decoder="noise")


@pytest.mark.parametrize("decoder", ["noise", "dictionary"])
def test_grain_vae_is_a_real_vae_and_learns(decoder):
    vae = _vae() if decoder == "noise" else _dictionary_vae()
    mu, logvar = torch.randn(4, 2), torch.randn(4, 2)
    expected = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
    torch.testing.assert_close(vae.kl(mu, logvar), expected)
    grains = extract_grains(make_texture("raindrops", 6.0, 16000, seed=2, rate=20), 16000, 512)
    assert grains.shape[1] == 512 and len(grains) >= 40
    recon, mu, logvar = vae(grains[:5])
    assert recon.shape == (5, 512) and mu.shape == (5, 2)
    history = train_grain_vae(vae, grains, epochs=12, progress=False)
    assert history[-1] < 0.85 * history[0]
    z, grid = vae.latent_grid(3)
    assert z.shape == (3, 3, 2) and grid.shape == (3, 3, 512) and torch.isfinite(grid).all()
    assert ("carriers" if decoder == "noise" else "dictionary") in vae.state_dict() and "window" in vae.state_dict()


def test_pvae_model_is_finite_for_extreme_controls():
    vae = _vae()
    model = PVAEModel(["energy_bands", "events"], 4096, 16000, 8, vae, atoms=3, hidden_enc=16, hidden_dec=16)
    with torch.no_grad():
        model.head[-1].bias.fill_(1e4)           # saturate every control
    feats = [torch.randn(2, 3, 8) * 100, torch.full((2, 3, 1), 50.0)]
    y = model(feats)
    assert y.shape == (2, 3, 4096) and torch.isfinite(y).all()
    with torch.no_grad():
        model.head[-1].bias.fill_(-1e4)
    y = model([torch.zeros(2, 3, 8), torch.zeros(2, 3, 1)])
    loss = y.pow(2).mean()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with torch.no_grad():
        rate, alpha, latents, gain = model.controls([torch.zeros(1, 2, 8), torch.full((1, 2, 1), 0.2)])
    assert gain is None
    assert torch.all((rate >= 10) & (rate <= 40)) and latents.shape == (1, 2, 3, 2)
    assert float(latents.abs().max()) <= 3.0 and torch.all((alpha > 0.2) & (alpha < 4.5))


def test_pvae_synthesis_shapes():
    vae = _vae()
    y = pvae_synthesis(vae, torch.tensor([10.0, 50.0]), torch.ones(2), torch.randn(2, 4, 2), 4096)
    assert y.shape == (2, 4096) and torch.isfinite(y).all()


def test_pvae_training_retrain_and_resynthesis(tmp_path, capsys):
    cfg = {"architecture": "PVAE", "audio_path": "procedural:raindrops?seconds=8&rate=20", "sampling_rate": 16000,
           "frame_size": 4096, "hop_size": 2048, "sequence_length": 2, "features_list": ["energy_bands", "events"],
           "hidden_size_enc": 16, "hidden_size_dec": 16, "N_filter_bank": 8, "M_filter_bank": 4, "atoms_number": 2,
           "vae_grain_size": 512, "vae_param_per_env": 16, "vae_hidden": 32, "vae_epochs": 3, "batch_size": 4,
           "epochs": 1, "seed": 2, "models_directory": str(tmp_path), "run_name": "pvae"}
    run = train(cfg, progress=False)
    vae_log = (run / "grain_vae_loss.json").read_text()
    retrain(run, epochs=2, progress=False)
    assert (run / "grain_vae_loss.json").read_text() == vae_log      # the grain VAE is not refitted on resume
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and bool(state["model"]["vae_trained"])
    assert all(np.isfinite(state["history"]["val_loss"]))
    wav = tmp_path / "in.wav"
    import soundfile as sf

    sf.write(wav, make_texture("raindrops", 1.3, 16000, seed=9, rate=20), 16000)
    assert main(["resynth", str(run), str(wav), str(tmp_path / "out.wav")]) == 0
    y, fs = sf.read(tmp_path / "out.wav")
    assert fs == 16000 and len(y) == int(1.3 * 16000) and np.isfinite(y).all() and np.abs(y).max() > 0.01
    assert json.loads(vae_log)["grains"] > 8


@pytest.mark.slow
def test_shipped_pvae_config_trains_without_nan_and_lowers_validation_loss(tmp_path):
    cfg = load_config(ROOT / "configs" / "pvae_raindrops.json")
    cfg.models_directory, cfg.run_name = str(tmp_path), "pvae"
    assert cfg.epochs >= 30 and cfg.early_stopping_patience > 0       # the long run for real use
    cfg.epochs = 12                                                   # CI trains its first 12 epochs
    run = train(cfg, progress=False)
    hist = torch.load(run / "checkpoint.pt", weights_only=True)["history"]
    assert 1 <= hist["epoch"][-1] <= cfg.epochs
    assert all(np.isfinite(hist["train_loss"][1:])) and all(np.isfinite(hist["val_loss"]))
    assert min(hist["val_loss"][1:]) < hist["val_loss"][0]


def _dictionary_vae(size: int = 4) -> GrainVAE:
    torch.manual_seed(0)
    return GrainVAE(512, 16000, n_bands=8, latent_dim=2, hidden=32, decoder="dictionary", dictionary_size=size)


def test_dictionary_decoder_holds_real_grains_and_reproduces_one_exactly():
    grains = extract_grains(make_texture("raindrops", 6.0, 16000, seed=2, rate=20), 16000, 512)
    vae = _dictionary_vae()
    vae.set_dictionary(grains, torch.Generator().manual_seed(0))
    # every atom is one of the training grains (a medoid), at unit peak
    unit = grains / grains.abs().amax(-1, keepdim=True)
    match = (vae.dictionary[:, None] - unit[None]).abs().amax(-1).amin(-1)
    assert float(match.max()) < 1e-5
    torch.testing.assert_close(vae.dictionary.abs().amax(-1), torch.ones(4))
    # one-hot choice and unit gains (tanh(0) = 0 dB) give atom 2 under the grain window, sample for sample
    with torch.no_grad():
        vae.to_choice.weight.zero_(), vae.to_choice.bias.copy_(torch.tensor([0.0, 0.0, 60.0, 0.0]))
        vae.to_gains.weight.zero_(), vae.to_gains.bias.zero_()
    torch.testing.assert_close(vae.decode(torch.randn(3, 2)), (vae.dictionary[2] * vae.window).expand(3, -1),
                               atol=1e-5, rtol=0)
    assert "dictionary" in vae.state_dict() and "carriers" not in vae.state_dict()


def test_dictionary_band_gains_are_bounded_at_20_db_and_act_on_their_band():
    vae = _dictionary_vae(1)
    vae.set_dictionary(torch.randn(1, 512), torch.Generator().manual_seed(0))
    with torch.no_grad():
        vae.to_gains.weight.zero_(), vae.to_gains.bias.zero_()
        vae.to_gains.bias[4] = 50.0                                  # band 4 (of 1..8, residuals at 0, 9) saturates
        boosted = vae.decode(torch.zeros(1, 2))[0].double()
    # numpy: the atom's spectrum times Σ_b g_b H_b² with g_4 = 10 (+20 dB, the bound) and g_b = 1 elsewhere
    h2 = vae.bank.filters.double().numpy() ** 2
    weight = h2.sum(0) + 9.0 * h2[4]
    atom = vae.dictionary[0].double().numpy()
    expected = np.fft.irfft(np.fft.rfft(atom) * weight, n=512) * vae.window.double().numpy()
    np.testing.assert_allclose(boosted.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(h2.sum(0), 1.0, atol=1e-9)            # unit gains leave the atom as it is


def test_unknown_grain_decoder_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown grain decoder 'wavenet'"):
        GrainVAE(512, 16000, decoder="wavenet")
    with pytest.raises(ValueError, match="needs a GrainVAE with decoder='dictionary'"):
        GrainVAE(512, 16000, decoder="noise").set_dictionary(torch.randn(4, 512))


def test_background_spectrum_keeps_a_steady_bed_and_leaves_out_sparse_events():
    from ddsp_textures.dsp.spectral import background_spectrum

    fs, rng = 16000, np.random.default_rng(0)
    bed = np.fft.irfft(np.fft.rfft(rng.standard_normal(20 * fs)) * (np.fft.rfftfreq(20 * fs, 1 / fs) < 2000))
    swell = bed * (1 + 0.8 * np.sin(2 * np.pi * 0.3 * np.arange(20 * fs) / fs))    # a slow swell, no events
    power, share = background_spectrum(swell, 4096)
    assert share == pytest.approx(1.0, abs=0.05)
    freqs = np.arange(4096 // 2 + 1) * fs / 4096
    assert power[freqs > 2500].max() < 1e-3 * power[freqs < 1500].mean()        # the bed's own spectrum
    clicks = 0.01 * bed.copy()
    for start in range(0, 20 * fs - 2048 + 1, 2048):        # one click in every 2048 samples (7.8/s), each of
        burst = rng.standard_normal(16)                     # energy 4: every frame holds the same click energy
        i = start + int(rng.integers(0, 2048 - 16))
        clicks[i:i + 16] += 2 * burst / np.sqrt(np.sum(burst**2))
    bed_part = float(np.sum((0.01 * bed) ** 2) / np.sum(clicks**2))               # closed form: 0.012 here
    assert background_spectrum(clicks, 4096)[1] == pytest.approx(bed_part, rel=0.3)


def test_pvae_background_fills_the_gaps_between_events(tmp_path):
    from ddsp_textures.inference.generation import generate
    from ddsp_textures.training.rundir import load_run

    base = {"architecture": "PVAE", "audio_path": "procedural:raindrops?seconds=8&rate=10", "sampling_rate": 16000,
            "frame_size": 4096, "hop_size": 2048, "sequence_length": 2, "features_list": ["energy_bands", "events"],
            "hidden_size_enc": 16, "hidden_size_dec": 16, "N_filter_bank": 8, "M_filter_bank": 4,
            "atoms_number": 2, "vae_grain_size": 512, "vae_param_per_env": 16, "vae_hidden": 32, "vae_epochs": 2,
            "batch_size": 4, "epochs": 1, "seed": 2, "models_directory": str(tmp_path)}
    x = make_texture("raindrops", 4, 16000, seed=5, rate=10)
    quiet = {}
    for background in (True, False):
        model, cfg = load_run(train({**base, "pvae_background": background, "run_name": f"bg{background}"},
                                    progress=False))
        assert model.has_background is background and cfg.pvae_background is background
        y = generate(model, 4.0, x, seed=1)
        blocks = np.sqrt(np.mean(y[: len(y) // 160 * 160].reshape(-1, 160) ** 2, -1))   # 10-ms RMS
        quiet[background] = float(np.mean(blocks < 1e-4 * np.sqrt(np.mean(y**2))))        # digitally silent
        if background:
            share = float(model.background_share)
            assert 0 < share < 0.05                                 # rain drops on a quiet bed: the bed is small
    assert quiet[False] > 0.3 and quiet[True] == 0.0


def test_runs_saved_before_the_background_load_without_it():
    from ddsp_textures.training.config import saved_config_defaults

    assert saved_config_defaults({"architecture": "PVAE"})["pvae_background"] is False
    assert load_config(ROOT / "configs" / "pvae_raindrops.json").pvae_background is True


def _peak_to_median(y: np.ndarray, fs: float) -> float:
    """Independent of ``metrics.events``: SciPy's Hilbert envelope of a Butterworth high-pass at 2 kHz, RMS in
    5-ms blocks, 99th percentile over median."""
    from scipy.signal import butter, hilbert, sosfiltfilt

    band = sosfiltfilt(butter(8, 2000, "highpass", fs=fs, output="sos"), np.asarray(y, dtype=np.float64))
    power = np.abs(hilbert(band)) ** 2
    block = int(round(0.005 * fs))
    env = np.sqrt(power[: len(power) // block * block].reshape(-1, block).mean(-1))
    return float(np.percentile(env, 99) / np.median(env))


def test_training_calibrates_the_background_so_events_stand_out_as_in_the_audio(tmp_path):
    from ddsp_textures.inference.resynthesis import resynthesize
    from ddsp_textures.metrics.events import event_statistics
    from ddsp_textures.models.calibration import MIN_SHARE_RATIO, calibrate_background_share, resynthesized_events
    from ddsp_textures.training.data import load_sources
    from ddsp_textures.training.rundir import load_run

    cfg = {"architecture": "PVAE", "audio_path": "procedural:fire?seconds=8", "sampling_rate": 16000,
           "frame_size": 4096, "hop_size": 2048, "sequence_length": 2, "features_list": ["energy_bands", "events"],
           "hidden_size_enc": 16, "hidden_size_dec": 16, "N_filter_bank": 8, "M_filter_bank": 4, "atoms_number": 2,
           "vae_grain_size": 512, "vae_param_per_env": 16, "vae_hidden": 32, "vae_epochs": 2, "batch_size": 4,
           "epochs": 2, "seed": 2, "models_directory": str(tmp_path), "run_name": "fire"}
    model, _ = load_run(train(cfg, progress=False))
    audio = load_sources(cfg["audio_path"], 16000, cfg["seed"])[0]     # the training audio
    calibrated = float(model.background_share)
    model.prepare_background([torch.as_tensor(audio)])   # the share the trainer measured before calibrating
    measured = float(model.background_share)
    assert 0.5 < measured < 0.95                         # a crackling fire on a bed: mostly bed, by power
    assert MIN_SHARE_RATIO * measured <= calibrated < 0.9 * measured
    x = audio[: len(audio) // 4096 * 4096]
    target = _peak_to_median(x, 16000)
    prominence, rate = {}, {}
    for share in (measured, calibrated):
        model.background_share.fill_(share)
        y = resynthesize(model, x, seed=0)
        prominence[share], rate[share] = _peak_to_median(y, 16000), event_statistics(y, 16000).onset_rate
    original = event_statistics(x, 16000)
    assert prominence[measured] < 0.6 * target           # the measured share drowns the crackles
    assert rate[measured] < original.onset_rate
    # lowered until the resynthesis is as prominent as the audio (peaks or onset rate), or as far as allowed
    assert prominence[calibrated] > 1.5 * prominence[measured] and rate[calibrated] > rate[measured]
    trial = resynthesized_events(model, torch.as_tensor(x).reshape(-1, 4096), calibrated)
    assert (trial.peak_to_median >= original.peak_to_median or trial.onset_rate >= original.onset_rate
            or calibrated < 1.05 * MIN_SHARE_RATIO * measured)  # the calibration's own trial at the share it kept
    # calibrating again changes nothing where the events already stand out; a model without a share is refused
    model.background_share.fill_(MIN_SHARE_RATIO * measured / 2)
    assert calibrate_background_share(model, audio) == pytest.approx(MIN_SHARE_RATIO * measured / 2)
    with pytest.raises(ValueError, match="background"):
        calibrate_background_share(torch.nn.Linear(1, 1), audio)
