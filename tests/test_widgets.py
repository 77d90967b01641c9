import io
from datetime import datetime, timezone

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("ipywidgets")
from ddsp_textures.app.widgets import UPLOAD, TrainingForm  # noqa: E402

BASE = {"sampling_rate": 16000, "frame_size": 4096, "hop_size": 2048, "sequence_length": 2,
        "hidden_size_enc": 16, "hidden_size_dec": 16, "param_per_env": 32, "N_filter_bank": 8,
        "M_filter_bank": 4, "batch_size": 4, "seed": 0, "device": "cpu"}


def test_the_train_button_trains_and_reports_every_epoch():
    form = TrainingForm(BASE, {"rain": "procedural:rain?seconds=3&rate=16000"}, epochs=2)
    seen = []
    original = form._on_epoch
    form._on_epoch = lambda history: (seen.append(int(history["epoch"][-1])), original(history))
    form.button.click()                                      # what the reader's click does
    assert form.status.value.startswith("done"), form.status.value
    assert seen == [1, 2] and form.progress.value == 2
    assert form.history["epoch"] == [0.0, 1.0, 2.0] and np.isfinite(form.history["val_texstat"]).all()
    assert form.model is not None and form.run_dir.is_dir()
    assert not form.button.disabled                          # the button comes back after training


def test_upload_and_errors_are_one_line_in_the_form():
    form = TrainingForm(BASE, {"rain": "procedural:rain?seconds=3&rate=16000"}, epochs=1)
    form.source.value = UPLOAD
    assert form.train() is None and form.status.value == "error: choose an audio file with the upload button first"
    buffer = io.BytesIO()
    sf.write(buffer, np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1, 16000,
             format="WAV")
    form.upload.value = ({"name": "noise.wav", "type": "audio/wav", "size": buffer.tell(),
                          "content": memoryview(buffer.getvalue()), "last_modified": datetime.now(timezone.utc)},)
    assert form.config()["audio_path"].endswith("upload.wav")
    form.upload.value = ({"name": "notes.txt", "type": "text/plain", "size": 3, "content": memoryview(b"abc"),
                          "last_modified": datetime.now(timezone.utc)},)
    assert form.train() is None and form.status.value.startswith("error: notes.txt: not an audio file")
