"""The bed equalised in the log domain (synths.bed_equalizer, models.calibration.calibrate_bed_eq)."""

import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfilt, stft

from ddsp_textures.synths.bed_equalizer import (
    STEADY_SPREAD_DB,
    SWING_DB,
    equalize_frames,
    log_spectrum_gains,
    log_spectrum_spread,
)

FS = 16000


def _third_octave_mean_log(x: np.ndarray, fs: float = FS, floor: float = 1e-20, nperseg: int = 1024) -> np.ndarray:
    """Independent of the library: SciPy's Hann STFT (``nperseg``, half overlap), the mean over frames of the log
    power of the signal at unit RMS (floored at ``floor`` times the mean power), averaged in third-octave bands
    from 100 Hz to 6.4 kHz."""
    x = x / np.sqrt(np.mean(x**2))
    f, _, z = stft(x, fs, nperseg=nperseg, noverlap=nperseg // 2, boundary=None, padded=False)
    power = np.abs(z) ** 2
    mean_log = (10 * np.log10(np.maximum(power, floor * power.mean()) + 1e-30)).mean(-1)
    edges = 100 * 2 ** (np.arange(19) / 3)
    return np.array([mean_log[(f >= lo) & (f < hi)].mean() for lo, hi in zip(edges[:-1], edges[1:], strict=True)])


def _dark_noise(seed: int, seconds: float = 8.0, order: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return sosfilt(butter(order, 1000, "lowpass", fs=FS, output="sos"), rng.standard_normal(int(seconds * FS)))


def test_the_gains_move_a_beds_mean_log_spectrum_onto_the_targets_and_keep_its_power():
    target = np.random.default_rng(0).standard_normal(8 * FS)          # white
    bed = _dark_noise(1, order=1)                                         # −6 dB/octave above 1 kHz
    length = 4096
    frames = torch.from_numpy(bed[: len(bed) // length * length].reshape(-1, length)).float()
    for strength in (1.0, 0.5):
        gains = log_spectrum_gains(target, bed, FS, length, max_db=20.0, strength=strength)
        out = equalize_frames(frames, gains).reshape(-1).double().numpy()
        before = _third_octave_mean_log(bed) - _third_octave_mean_log(target)
        after = _third_octave_mean_log(out) - _third_octave_mean_log(target)
        assert np.ptp(before) > 15                                     # 100 Hz to 6.4 kHz: a tilt
        # all the way: flat to within a dB or two; half way: half the tilt (each up to a constant offset)
        np.testing.assert_allclose(after - after.mean(), (1 - strength) * (before - before.mean()), atol=2.5)
        np.testing.assert_allclose(np.mean(out**2), np.mean(frames.double().numpy() ** 2), rtol=0.03)
    bounded = 20 * np.log10(log_spectrum_gains(target, bed, FS, length, max_db=6.0).numpy())
    assert np.ptp(bounded) <= 12.0 + 1e-4                                # within ±6 dB, then one offset
    with pytest.raises(ValueError, match="strength in"):
        log_spectrum_gains(target, bed, FS, length, strength=0.0)


def _gated_band(seed: int, seconds: float = 8.0) -> np.ndarray:
    """White noise whose 2–4 kHz band is loud in one 50-ms burst out of five and near-silent between them."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    band = sosfilt(butter(6, [2000, 4000], "bandpass", fs=FS, output="sos"), rng.standard_normal(n))
    gate = np.repeat(rng.random(n // 800 + 1) < 0.2, 800)[:n]
    notch = sosfilt(butter(6, [2000, 4000], "bandstop", fs=FS, output="sos"), rng.standard_normal(n))
    return notch + 10 * band * gate


def test_a_swinging_band_is_equalised_all_the_way_the_rest_half_way():
    """The spread of steady noise's log power is the exponential law's (closed form), a gated band's far more
    (SciPy's STFT); with ``swing_db`` the gated band moves all the way, the rest half way (SciPy third octaves)."""
    white = np.random.default_rng(5).standard_normal(8 * FS)
    assert np.median(log_spectrum_spread(white)[20:-20]) == pytest.approx(STEADY_SPREAD_DB, abs=0.2)
    target = _gated_band(6)
    f, _, z = stft(target / np.sqrt(np.mean(target**2)), FS, nperseg=2048, noverlap=1024, boundary=None,
                   padded=False)
    power = np.abs(z) ** 2
    spread = (10 * np.log10(np.maximum(power, 1e-8 * power.mean()))).std(-1)     # floored 80 dB down, as the library
    inside = (f > 2300) & (f < 3700)
    np.testing.assert_allclose(log_spectrum_spread(target)[inside], spread[inside], rtol=0.02)
    assert spread[inside].min() > SWING_DB > 1.5 * STEADY_SPREAD_DB
    bed, length = np.random.default_rng(7).standard_normal(8 * FS), 4096            # steady and white
    bins = np.fft.rfftfreq(length, 1 / FS)
    steady, interior = (bins > 400) & (bins < 1600), (bins > 2500) & (bins < 3300)
    db = {name: 20 * np.log10(log_spectrum_gains(target, bed, FS, length, max_db=60.0, strength=strength,
                                                  swing_db=swing).numpy())
          for name, strength, swing in (("half", 0.5, None), ("full", 1.0, None), ("swing", 0.5, SWING_DB))}
    # SciPy (2048-sample frames, floored 80 dB down, as the library): the steady bed fills the gated band
    lifted = _third_octave_mean_log(bed, nperseg=2048) - _third_octave_mean_log(target, floor=1e-8, nperseg=2048)
    assert lifted[14] - lifted[6:11].mean() > 20                         # 2.5–3.2 kHz against 0.4–1.3 kHz
    assert np.ptp((db["full"] - db["half"])[interior]) > 5              # half way and all the way differ there
    # up to each one's power-keeping offset: all the way in the gated band, half way elsewhere
    assert np.ptp((db["swing"] - db["full"])[interior]) < 0.5
    assert np.ptp((db["swing"] - db["half"])[steady]) < 0.5


def test_equalizing_a_frame_is_its_circular_convolution_with_the_gains_impulse_response():
    rng = np.random.default_rng(3)
    frame = rng.standard_normal(256)
    gains = torch.from_numpy(rng.uniform(0.2, 2.0, 129)).float()
    response = np.fft.irfft(gains.double().numpy(), n=256)                # zero phase: even, circular
    expected = np.array([np.dot(frame, np.roll(response[::-1], k + 1)) for k in range(256)])
    out = equalize_frames(torch.from_numpy(frame).float().unsqueeze(0), gains)[0].double().numpy()
    np.testing.assert_allclose(out, expected, atol=1e-4)


def _model():
    from tests.test_layer_gain import _flat_bed_model

    return _flat_bed_model()


def test_calibration_takes_the_beds_spectrum_towards_the_audio_at_inference_only(tmp_path):
    from ddsp_textures.inference.resynthesis import resynthesize
    from ddsp_textures.models.calibration import EQ_STRENGTH, calibrate_bed_eq

    audio = _dark_noise(2, seconds=20.0).astype(np.float32)          # no events: the bed plays alone
    model = _model()
    before = _third_octave_mean_log(resynthesize(model, audio, seed=0)) - _third_octave_mean_log(audio)
    report = calibrate_bed_eq(model, audio)
    after = _third_octave_mean_log(resynthesize(model, audio, seed=0)) - _third_octave_mean_log(audio)
    assert report is not None and "log-mel distance" in report
    spread_before, spread_after = np.ptp(before - before.mean()), np.ptp(after - after.mean())
    assert spread_after < (EQ_STRENGTH + 0.1) * spread_before and spread_before > 4      # half way: 5.9 -> 2.8
    # training decodes and synthesises the bed as it is: the equaliser is an inference setting
    features = [f.unsqueeze(0) for f in model.features(torch.from_numpy(audio[: 4 * 4096]).reshape(4, 4096))]
    model.train()
    trained = model.synthesize(features, "none", shifts=torch.zeros(1, 4, dtype=torch.long))
    model.eval()
    inferred = model.synthesize(features, "none", shifts=torch.zeros(1, 4, dtype=torch.long))
    np.testing.assert_allclose(inferred.numpy(), equalize_frames(trained, model.bed_eq).numpy(), atol=1e-5)
    assert not torch.allclose(inferred, trained, atol=1e-3)
    restored = _model()
    restored.load_state_dict(model.state_dict())
    assert torch.equal(restored.bed_eq, model.bed_eq)
    with pytest.raises(ValueError, match="positive, finite gains"):
        model.set_bed_eq(-model.bed_eq)


def test_the_stream_and_the_export_play_the_equalised_bed():
    from ddsp_textures.inference.export import scripted_stream
    from ddsp_textures.inference.streaming import TextureStream

    audio = _dark_noise(4, seconds=6.0).astype(np.float32)
    model = _model()
    played = {}
    for label, gains in (("flat", None), ("eq", torch.linspace(2.0, 0.25, model.frame_size // 2 + 1))):
        model.set_bed_eq(gains)
        played[label] = TextureStream(model, audio, seed=3, transients=None).read(12 * 1024)
    scripted = scripted_stream(model, audio, block_size=1024, transients=None)
    scripted.reset(3)
    exported = torch.cat([scripted.block() for _ in range(12)]).numpy()
    np.testing.assert_allclose(exported, played["eq"], atol=1e-5 * np.abs(played["eq"]).max())
    low, high = (_third_octave_mean_log(played[k]) for k in ("flat", "eq"))
    assert (high - low)[0] - (high - low)[-1] > 6            # +6 dB at 100 Hz, -3 dB at 6 kHz: 8.5 dB apart


def test_the_hybrid_stream_equalises_in_the_band_loudness_filter_as_the_model_does_after_it():
    from ddsp_textures.dsp.filterbanks import FilterBank, one_sided_weights
    from ddsp_textures.inference.frame_renderers import set_band_rms

    bank = FilterBank(1024, FS, 6, 50, 8000)
    generator = torch.Generator().manual_seed(5)
    x, target = torch.randn(1024, generator=generator), torch.rand(8, generator=generator) + 0.1
    gains = torch.rand(513, generator=generator) + 0.5
    folded = set_band_rms(x, target, bank.filters.float().pow(2), one_sided_weights(1024, torch.float32), 1e-8, gains)
    after = equalize_frames(bank.set_band_rms(x, target), gains)                  # HybridModel.synthesize's order
    np.testing.assert_allclose(folded.numpy(), after.numpy(), atol=1e-5)
    assert not np.allclose(folded.numpy(), bank.set_band_rms(x, target).numpy(), atol=1e-3)
