"""Notebook controls: train a TexDSP model from a form and listen to it (book chapter: *DDSP training*).

Needs ``ipywidgets`` (the ``book`` extra).  The form builds a training config from a base config and the
reader's choices, trains with a live progress bar and loss plot (one update per epoch), and then shows the
original next to the model's resynthesis with audio players.  Errors are shown as one line in the form.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ddsp_textures.dsp.audio import AUDIO_SUFFIXES, load_audio
from ddsp_textures.plotting import audio, history_figure, spectrogram
from ddsp_textures.textures import make_texture
from ddsp_textures.training.config import ConfigError, TrainConfig, parse_config

UPLOAD = "your own file (upload below)"


def loss_figure(history: dict[str, list[float]], title: str = "training"):
    """Training and validation-TexStat curves on a bare matplotlib Figure (no pyplot state)."""
    return history_figure(history, title)


class TrainingForm:
    """A form that trains a TexDSP model in the notebook.

    Args:
        base_config: training config the form starts from (``audio_path`` is replaced by the chosen texture).
        sources: texture choices, label → ``audio_path`` (``procedural:NAME?...`` or a file); an upload
            option is added.
        epochs: initial value of the epochs slider.

    After a run, ``run_dir``, ``history`` and ``model`` hold the result; ``train()`` does what the button does.
    """

    def __init__(self, base_config: dict[str, Any], sources: dict[str, str], epochs: int = 10) -> None:
        import ipywidgets as w

        self.base, self.sources = dict(base_config), dict(sources)
        self.source = w.Dropdown(options=[*self.sources, UPLOAD], description="texture")
        self.upload = w.FileUpload(accept=",".join(sorted(AUDIO_SUFFIXES)), multiple=False)
        self.epochs = w.IntSlider(value=epochs, min=1, max=200, description="epochs")
        self.param_per_env = w.Dropdown(options=[32, 64, 128, 256, 512],
                                        value=int(self.base.get("param_per_env", 128)),
                                        description="param_per_env")
        self.n_bands = w.IntSlider(value=int(self.base.get("N_filter_bank", 16)), min=4, max=32, step=2,
                                   description="N_filter_bank")
        self.loss = w.Dropdown(options=["texstat", "multiscale", "texstat+multiscale"],
                               value=self.base.get("loss_function", "texstat"), description="loss")
        self.button = w.Button(description="Train", button_style="primary", icon="play")
        self.progress = w.IntProgress(value=0, min=0, max=epochs, description="epoch 0")
        self.status = w.Label()
        self.plot, self.result = w.Output(), w.Output()
        self.button.on_click(lambda _: self.train())
        self.widget = w.VBox([w.HBox([self.source, self.upload]), w.HBox([self.epochs, self.param_per_env]),
                              w.HBox([self.n_bands, self.loss]), w.HBox([self.button, self.progress]),
                              self.status, self.plot, self.result])
        self.run_dir: Path | None = None
        self.history: dict[str, list[float]] | None = None
        self.model = None
        self._workdir = Path(tempfile.mkdtemp(prefix="ddsp_textures_form_"))
        self._runs = 0

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def audio_path(self) -> str:
        """The chosen texture as an ``audio_path`` (an upload is written to a temporary file)."""
        if self.source.value != UPLOAD:
            return self.sources[self.source.value]
        if not self.upload.value:
            raise ConfigError("choose an audio file with the upload button first")
        item = self.upload.value[0]
        suffix = Path(item["name"]).suffix.lower()
        if suffix not in AUDIO_SUFFIXES:
            raise ConfigError(f"{item['name']}: not an audio file ({', '.join(sorted(AUDIO_SUFFIXES))})")
        path = self._workdir / f"upload{suffix}"
        path.write_bytes(bytes(item["content"]))
        return str(path)

    def config(self) -> dict[str, Any]:
        """The training config the form describes (validated when training starts)."""
        self._runs += 1
        return {**self.base, "audio_path": self.audio_path(), "epochs": int(self.epochs.value),
                "param_per_env": int(self.param_per_env.value), "N_filter_bank": int(self.n_bands.value),
                "loss_function": self.loss.value, "models_directory": str(self._workdir),
                "run_name": f"form_{self._runs:02d}"}

    def _on_epoch(self, history: dict[str, list[float]]) -> None:
        from IPython.display import display

        epoch = int(history["epoch"][-1])
        self.progress.value = epoch
        self.progress.description = f"epoch {epoch}"
        self.status.value = f"epoch {epoch}: validation TexStat {history['val_texstat'][-1]:.3f}"
        with self.plot:
            self.plot.clear_output(wait=True)
            display(loss_figure(history))

    def _show_result(self, original: np.ndarray, resynth: np.ndarray, fs: int) -> None:
        from IPython.display import display
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 2.6))
        axes = fig.subplots(1, 2, sharey=True)
        spectrogram(axes[0], original, fs, "original", max_freq=min(fs / 2, 10000))
        spectrogram(axes[1], resynth, fs, "trained model", max_freq=min(fs / 2, 10000))
        fig.tight_layout()
        with self.result:
            self.result.clear_output()
            display(fig, audio(original, fs), audio(resynth, fs))

    def train(self) -> Path | None:
        """Train with the current settings; returns the run directory (``None`` after an error)."""
        from ddsp_textures.training.rundir import load_history, load_run
        from ddsp_textures.training.trainer import train

        self.button.disabled = True
        try:
            cfg = parse_config(self.config())
            self.progress.max, self.progress.value = cfg.epochs, 0
            self.status.value = "loading audio and building the model ..."
            self.run_dir = train(cfg, progress=False, on_epoch=self._on_epoch)
            self.history = load_history(self.run_dir)
            self.model, _ = load_run(self.run_dir)
            self.status.value = (f"done: validation TexStat {self.history['val_texstat'][0]:.3f} → "
                                 f"{min(self.history['val_texstat']):.3f} (run {self.run_dir})")
            self._show_result(*self._resynthesis(cfg))
            return self.run_dir
        except (ConfigError, OSError, ValueError, FloatingPointError) as err:
            self.status.value = f"error: {err}"
            return None
        finally:
            self.button.disabled = False

    def _resynthesis(self, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, int]:
        """A 4-s excerpt of the chosen texture (another one for procedural textures) and its resynthesis."""
        from ddsp_textures.inference.resynthesis import resynthesize

        fs, seconds = cfg.sampling_rate, 4.0
        if cfg.audio_path.startswith("procedural:"):
            name = cfg.audio_path.split(":", 1)[1].split("?", 1)[0]
            original = make_texture(name, seconds, fs, seed=123)          # another excerpt than the training one
        else:
            original = load_audio(cfg.audio_path, fs)[: int(seconds * fs)]
        return original, resynthesize(self.model, original), fs
