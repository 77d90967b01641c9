"""A placed transient layer raised over the bed until it stands out as in the audio (models.calibration)."""

import numpy as np
import pytest
import torch
from scipy.signal import butter, hilbert, sosfiltfilt

from ddsp_textures.inference.resynthesis import resynthesize
from ddsp_textures.models import TexDSP
from ddsp_textures.models.calibration import MAX_LAYER_GAIN_DB, calibrate_layer_gain
from ddsp_textures.textures import make_texture
from tests.test_line_spread import _faint_line_model

FS, L = 16000, 4096


def _flat_bed_model() -> TexDSP:
    """A bed that decodes one flat envelope in every frame: steady noise at each frame's band loudness
    (test_line_spread's bed with its line as faint as the other coefficients)."""
    return _faint_line_model(-12.0)


def _peak_to_median(y: np.ndarray) -> float:
    """Independent of metrics.events: SciPy's Hilbert envelope above 2 kHz, RMS in 5-ms (80-sample) blocks,
    its 99th percentile over its median."""
    band = sosfiltfilt(butter(8, 2000, "highpass", fs=FS, output="sos"), np.asarray(y, dtype=np.float64))
    power = np.abs(hilbert(band)) ** 2
    envelope = np.sqrt(power[: len(power) // 80 * 80].reshape(-1, 80).mean(-1))
    return float(np.percentile(envelope, 99) / np.median(envelope))


def test_a_steady_bed_gets_the_applause_claps_raised_until_they_stand_out_as_recorded():
    applause = make_texture("applause", seconds=20, fs=FS, seed=3)
    model = _flat_bed_model()
    own = _peak_to_median(applause)
    before = _peak_to_median(resynthesize(model, applause, seed=0, transients="clicks"))
    report = calibrate_layer_gain(model, applause)
    gain_db = 20 * np.log10(float(model.layer_gain))
    after = _peak_to_median(resynthesize(model, applause, seed=0, transients="clicks"))
    assert report is not None and "clicks raised" in report and f"{gain_db:+.1f} dB" in report
    assert 0.5 < gain_db < MAX_LAYER_GAIN_DB
    assert before < 0.85 * own and abs(after - own) < 0.05 * own      # 4.1 and 5.1 against 5.1


def test_no_layer_no_gain_and_a_bad_gain_is_refused():
    noise = np.random.default_rng(1).standard_normal(20 * FS).astype(np.float32)
    model = _flat_bed_model()
    assert calibrate_layer_gain(model, noise) is None and float(model.layer_gain) == 1.0
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number of dB"):
            model.set_layer_gain(bad)


def test_the_gain_scales_the_streamed_events_only_and_the_export_plays_it():
    from ddsp_textures.inference.export import scripted_stream
    from ddsp_textures.inference.streaming import TextureStream

    fire = make_texture("fire", seconds=6, fs=FS, seed=3)
    model = _flat_bed_model()
    played = {}
    for gain_db in (0.0, 6.0, 12.0):
        model.set_layer_gain(gain_db)
        played[gain_db] = TextureStream(model, fire, seed=3, transients="clicks").read(12 * 1024)
    events = played[6.0] - played[0.0]                  # the bed and the event times do not move with the gain
    g1, g2 = 10 ** (6 / 20), 10 ** (12 / 20)
    np.testing.assert_allclose(played[12.0] - played[0.0], events * (g2 - 1) / (g1 - 1),
                               atol=1e-5 * np.abs(played[12.0]).max())
    assert np.abs(events).max() > 0.1 * np.abs(played[0.0]).max()
    scripted = scripted_stream(model, fire, block_size=1024, transients="clicks")
    scripted.reset(3)
    exported = torch.cat([scripted.block() for _ in range(12)]).numpy()
    np.testing.assert_allclose(exported, played[12.0], atol=1e-5 * np.abs(played[12.0]).max())


def test_a_bed_too_quiet_above_the_claps_gets_them_lowered_until_they_stand_out_as_recorded():
    applause = make_texture("applause", seconds=20, fs=FS, seed=3)
    model = _flat_bed_model()
    bins = torch.fft.rfftfreq(L, 1 / FS)
    model.set_bed_eq(torch.where(bins > 2000, 0.5, 1.0))           # the bed 6 dB down above 2 kHz
    own = _peak_to_median(applause)
    before = _peak_to_median(resynthesize(model, applause, seed=0, transients="clicks"))
    report = calibrate_layer_gain(model, applause)
    gain_db = 20 * np.log10(float(model.layer_gain))
    after = _peak_to_median(resynthesize(model, applause, seed=0, transients="clicks"))
    assert report is not None and "clicks lowered" in report and gain_db < -1.0
    assert before > 1.2 * own and abs(after - own) < 0.1 * own       # 7.6 and 4.9 against 5.1
