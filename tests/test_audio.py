"""Audio files (``ddsp_textures.dsp.audio``): excerpts are the samples soundfile reads, at the asked times."""

import numpy as np
import soundfile as sf

from ddsp_textures.dsp.audio import load_excerpt


def test_excerpt_is_the_slice_soundfile_reads_and_falls_back_before_the_end(tmp_path):
    fs = 8000
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 3 * fs)
    path = tmp_path / "x.wav"
    sf.write(path, x, fs, subtype="FLOAT")
    reference = sf.read(path, dtype="float32")[0]
    np.testing.assert_array_equal(load_excerpt(path, fs, 0.5, start=1.0), reference[fs:fs + fs // 2])
    np.testing.assert_array_equal(load_excerpt(path, fs, 1.0, start=10.0), reference[2 * fs:])   # ends at the end
    np.testing.assert_array_equal(load_excerpt(path, fs, 5.0), reference)                       # a shorter file: all
