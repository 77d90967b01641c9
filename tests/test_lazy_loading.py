"""Corpora larger than memory: a memory-mapped audio cache and a dataset that reads frames on demand."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from ddsp_textures.dsp.audio import load_audio
from ddsp_textures.dsp.filterbanks import erb_bank
from ddsp_textures.training.data import LazyTextureDataset, TextureDataset, cached_sources


def _corpus(folder, seconds=(3.0, 2.0), fs=22050):
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seconds):
        noise = np.random.default_rng(i).standard_normal(int(s * fs)).astype(np.float32) * 0.1
        sf.write(folder / f"f{i}.flac", noise, fs)
    return folder


def test_cache_decodes_once_and_maps_the_same_samples(tmp_path):
    folder = _corpus(tmp_path / "audio")
    signals = cached_sources(str(folder), 16000, tmp_path / "cache")
    assert all(isinstance(s, np.memmap) for s in signals) and len(list((tmp_path / "cache").glob("*.npy"))) == 2
    for sig, path in zip(signals, sorted(folder.iterdir()), strict=True):
        np.testing.assert_array_equal(np.asarray(sig), load_audio(path, 16000))        # resampled 22.05 → 16 kHz
    stamp = [p.stat().st_mtime_ns for p in sorted((tmp_path / "cache").iterdir())]
    cached_sources(str(folder), 16000, tmp_path / "cache")
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / "cache").iterdir())] == stamp   # reused
    cached_sources(str(folder), 8000, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 4                                  # new rate, new entries


def test_lazy_items_equal_the_in_memory_items(tmp_path):
    signals = cached_sources(str(_corpus(tmp_path / "audio")), 16000, tmp_path / "cache")
    bank = erb_bank(4096, 16000, 8)
    names = ["energy_bands", "centroid", "rate"]
    eager = TextureDataset([np.asarray(s) for s in signals], 4096, 2048, 2, names, bank)
    lazy = LazyTextureDataset(signals, 4096, 2048, 2, names, bank)
    assert len(lazy) == len(eager) > 4
    idx = torch.tensor([0, 3, len(lazy) - 1])
    for a, b in zip(lazy[idx], eager[idx], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    sub = lazy.subset(torch.tensor([2, 1]))
    torch.testing.assert_close(sub[torch.tensor([1])][0], eager[torch.tensor([1])][0], rtol=1e-4, atol=1e-5)
    single = lazy[1]
    assert single[0].shape == (2, 4096) and single[1].shape == (2, 8)


@pytest.mark.slow
def test_a_corpus_larger_than_the_memory_budget_trains_lazily(tmp_path):
    """The heap is capped (RLIMIT_DATA) 100 MB above what a small warm-up run used; 15 min of audio at 16 kHz is
    58 MB decoded and twice that framed at 50 % overlap, so only the lazily read corpus trains (one file is
    decoded at a time into the cache, and frames are read on demand).  The bed's calibration after training is
    left out: it reads the first minute of audio whatever the corpus (about 150 MB at 16 kHz, measured), which
    is not what this budget is about."""
    _corpus(tmp_path / "big", seconds=(300.0, 300.0, 300.0), fs=16000)
    script = textwrap.dedent(f"""
        import re, resource, sys
        from pathlib import Path
        import torch
        torch.set_num_threads(1)
        from ddsp_textures.models.texdsp import TexEnvBedModel
        from ddsp_textures.training.trainer import train
        TexEnvBedModel.settles_after_training = False   # the end-of-run calibration reads a bounded minute of audio
        tmp, lazy = Path({str(tmp_path)!r}), sys.argv[1] == "1"
        base = dict(sampling_rate=16000, frame_size=4096, hop_size=2048, sequence_length=2,
                    features_list=["energy_bands"], hidden_size_enc=16, hidden_size_dec=16, param_per_env=16,
                    N_filter_bank=8, M_filter_bank=4, batch_size=8, epochs=1, seed=0, device="cpu",
                    models_directory=str(tmp / ("runs" + sys.argv[1])), lazy_loading=lazy)
        train(dict(base, audio_path={str(tmp_path / "small")!r}, run_name="warmup"), progress=False)
        status = Path("/proc/self/status").read_text()
        limit = int(re.search(r"VmData:\\s+(\\d+) kB", status).group(1)) * 1024 + 100 * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        try:
            train(dict(base, audio_path=str(tmp / "big"), run_name="big"), progress=False)
        except (MemoryError, RuntimeError) as err:
            print("out of memory:", str(err)[:80])
            sys.exit(3)
        print("trained")
    """)
    _corpus(tmp_path / "small", seconds=(5.0,), fs=16000)
    results = {}
    for lazy in ("1", "0"):
        proc = subprocess.run([sys.executable, "-c", script, lazy], capture_output=True, text=True, timeout=600)
        results[lazy] = (proc.returncode, proc.stdout + proc.stderr[-500:])
    assert results["1"][0] == 0 and "trained" in results["1"][1], results["1"]
    assert results["0"][0] == 3 and "out of memory" in results["0"][1], results["0"]


def test_event_models_train_from_the_memory_mapped_corpus_without_warnings(tmp_path):
    import warnings

    from ddsp_textures.training.trainer import train

    folder = _corpus(tmp_path / "audio", seconds=(4.0, 3.0), fs=16000)
    cfg = {"architecture": "HYBRID", "audio_path": str(folder), "sampling_rate": 16000, "frame_size": 4096,
           "hop_size": 2048, "sequence_length": 2, "features_list": ["energy_bands", "events"],
           "hidden_size_enc": 16, "hidden_size_dec": 16, "param_per_env": 16, "N_filter_bank": 8,
           "M_filter_bank": 4, "vae_grain_size": 512, "vae_param_per_env": 16, "vae_hidden": 32, "vae_epochs": 1,
           "batch_size": 4, "epochs": 1, "lazy_loading": True, "models_directory": str(tmp_path / "runs"),
           "run_name": "lazy"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = train(cfg, progress=False)
    assert (run / "checkpoint.pt").is_file() and len(list((tmp_path / "runs" / ".audio_cache").glob("*.npy"))) == 2
