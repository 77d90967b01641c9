"""Audio files (``ddsp_textures.dsp.audio``): excerpts are the samples soundfile reads, at the asked times."""

import numpy as np
import soundfile as sf

from ddsp_textures.dsp.audio import load_excerpt, save_audio


def test_excerpt_is_the_slice_soundfile_reads_and_falls_back_before_the_end(tmp_path):
    fs = 8000
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 3 * fs)
    path = tmp_path / "x.wav"
    sf.write(path, x, fs, subtype="FLOAT")
    reference = sf.read(path, dtype="float32")[0]
    np.testing.assert_array_equal(load_excerpt(path, fs, 0.5, start=1.0), reference[fs:fs + fs // 2])
    np.testing.assert_array_equal(load_excerpt(path, fs, 1.0, start=10.0), reference[2 * fs:])   # ends at the end
    np.testing.assert_array_equal(load_excerpt(path, fs, 5.0), reference)                       # a shorter file: all


def test_float_wav_keeps_every_sample_where_16_bit_pcm_quantises(tmp_path):
    x = (np.random.default_rng(0).standard_normal(4000) * 1e-4).astype(np.float32)     # quiet: near the LSB
    save_audio(tmp_path / "f.wav", x, 16000, subtype="FLOAT")
    save_audio(tmp_path / "p.wav", x, 16000)
    exact, _ = sf.read(tmp_path / "f.wav", dtype="float32")
    pcm, _ = sf.read(tmp_path / "p.wav", dtype="float32")
    assert np.array_equal(exact, x)
    assert np.allclose(pcm * 32768, np.round(pcm * 32768))                          # 16-bit: steps of 2^-15
    assert 1e-6 < np.abs(pcm - x).max() <= 2.0**-15
    for bad, name in (("PCM_24", "a.wav"), ("FLOAT", "a.flac")):
        try:
            save_audio(tmp_path / name, x, 16000, subtype=bad)
        except ValueError as err:
            assert "subtype" in str(err) or "FLAC" in str(err)
        else:
            raise AssertionError(f"{bad} to {name} was accepted")
