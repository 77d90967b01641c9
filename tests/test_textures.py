import numpy as np
import pytest
import torch

from ddsp_textures.stats.features import onset_rate
from ddsp_textures.textures import TEXTURES, make_texture, poisson_events


@pytest.mark.parametrize("name", list(TEXTURES))
def test_textures_are_deterministic_normalised_and_seed_dependent(name):
    a = make_texture(name, seconds=1.0, fs=22050, seed=4)
    b = make_texture(name, seconds=1.0, fs=22050, seed=4)
    c = make_texture(name, seconds=1.0, fs=22050, seed=5)
    assert a.shape == (22050,) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.abs(a).max() == pytest.approx(0.9, abs=1e-6)
    assert abs(a.mean()) < 0.05 and np.isfinite(a).all()


def test_poisson_event_count_matches_rate():
    rng = np.random.default_rng(0)
    counts = [len(poisson_events(44100 * 10, 20.0, 44100, rng)) for _ in range(200)]
    assert np.mean(counts) == pytest.approx(200, rel=0.03)
    assert np.var(counts) == pytest.approx(200, rel=0.25)   # Poisson: variance = mean


@pytest.mark.parametrize("name", ["fire", "applause", "rain"])
def test_rate_control_raises_the_measured_onset_rate(name):
    low_rate, high_rate = {"fire": (2, 40), "applause": (5, 40), "rain": (5, 80)}[name]
    def measured(rate):
        x = torch.stack([torch.tensor(make_texture(name, seconds=1.5, seed=s, rate=rate)[:65536]) for s in range(4)])
        return float(onset_rate(x, 44100).mean())
    assert measured(high_rate) > 2 * measured(low_rate)


def test_brightness_raises_the_spectral_centroid():
    def centroid(x):
        spec = np.abs(np.fft.rfft(x))
        f = np.fft.rfftfreq(len(x), 1 / 44100)
        return (spec * f).sum() / spec.sum()
    assert centroid(make_texture("stream", 2.0, brightness=2.0)) > 1.3 * centroid(make_texture("stream", 2.0))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown texture"):
        make_texture("thunder")
    with pytest.raises(ValueError, match="seconds"):
        make_texture("rain", seconds=0)
    with pytest.raises(ValueError, match="rate"):
        make_texture("rain", rate=-1)
