"""Plots and audio players used by the book and by users in notebooks."""

from __future__ import annotations

import numpy as np
import torch

from ddsp_textures.dsp.filterbanks import FilterBank, rfft_frequencies


def _np(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def spectrogram(ax, x: np.ndarray | torch.Tensor, fs: float, title: str = "", n_fft: int = 1024,
                max_freq: float | None = None, log_freq: bool = False) -> None:
    """Log-magnitude spectrogram (dB, 80 dB range) of a mono signal on a matplotlib axis, drawn by
    ``librosa.display.specshow`` with real time and frequency axes (``log_freq``: a logarithmic frequency axis,
    which reads better where the low octaves matter).  librosa is imported here only, off the training path."""
    import librosa
    import librosa.display
    from matplotlib.ticker import MaxNLocator

    x = _np(x).astype(np.float32)
    hop = n_fft // 4
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    magnitude = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop, window="hann", center=False))
    db = librosa.amplitude_to_db(magnitude + 1e-12, ref=np.max, top_db=None)
    librosa.display.specshow(db, sr=fs, hop_length=hop, n_fft=n_fft, x_axis="time", y_axis="log" if log_freq
                             else "hz", ax=ax, cmap="magma", vmin=-80, vmax=0)
    top = max_freq or fs / 2
    ax.set(xlabel="time (s)", ylabel="frequency (Hz)", title=title, ylim=(20 if log_freq else 0, top))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))   # readable in narrow panels


def plot_filterbank(ax, bank: FilterBank, log_x: bool = True, title: str = "") -> None:
    """Frequency responses of all ``N + 2`` filters (residuals dashed) and their sum of squares."""
    f = rfft_frequencies(bank.length, bank.fs).numpy()
    H = bank.filters.double().numpy().T
    for k in range(H.shape[1]):
        style = "--" if k in (0, H.shape[1] - 1) else "-"
        ax.plot(f[1:], H[1:, k], style, lw=1)
    ax.plot(f[1:], (H[1:] ** 2).sum(1), "k", lw=2, label=r"$\sum_k H_k^2$")
    if log_x:
        ax.set_xscale("log")
    ax.set(xlabel="frequency (Hz)", ylabel="gain", title=title)
    ax.legend(loc="lower left")


MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def encode_clip(x: np.ndarray | torch.Tensor, fs: int, max_seconds: float = 8.0, max_rate: int = 22050,
                normalize: bool = True) -> tuple[bytes, str, int]:
    """A short, mono, compressed clip for embedding in a notebook or web page.

    The signal is cut to ``max_seconds``, resampled (polyphase) to at most ``max_rate`` Hz, peak-normalised
    and encoded as MP3 (about 8× smaller than 16-bit WAV; every browser plays it).  A rate MP3 cannot carry
    falls back to 16-bit WAV.  Returns ``(bytes, mime type, rate)``.  Large base64 payloads in one cell's
    outputs slow notebook execution and page loads, which is why the book embeds audio only through this
    function.

    >>> data, mime, rate = encode_clip(np.random.default_rng(0).standard_normal(44100 * 20), 44100)
    >>> mime, rate, len(data) < 200_000
    ('audio/mpeg', 22050, True)
    """
    import io
    from math import gcd

    import soundfile as sf
    from scipy.signal import resample_poly

    y = _np(x).astype(np.float64).reshape(-1)[: int(max_seconds * fs)]
    if y.size == 0 or not np.isfinite(y).all():
        raise ValueError("cannot play an empty or non-finite signal")
    rate = int(fs)
    if rate > max_rate:
        g = gcd(int(max_rate), rate)
        y, rate = resample_poly(y, int(max_rate) // g, rate // g), int(max_rate)
    peak = np.abs(y).max()
    if normalize and peak > 0:
        y = 0.95 * y / peak
    y = np.clip(y, -1, 1).astype(np.float32)
    buffer = io.BytesIO()
    if rate in MP3_RATES:
        sf.write(buffer, y, rate, format="MP3", subtype="MPEG_LAYER_III")
        return buffer.getvalue(), "audio/mpeg", rate
    sf.write(buffer, y, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue(), "audio/wav", rate


def audio(x: np.ndarray | torch.Tensor, fs: int, normalize: bool = True, max_seconds: float = 8.0,
          max_rate: int = 22050, autoplay: bool = False):
    """An IPython audio player holding a short compressed clip (see :func:`encode_clip`)."""
    from IPython.display import Audio

    data, mime, _ = encode_clip(x, fs, max_seconds, max_rate, normalize)
    player = Audio(data=data, autoplay=autoplay)
    player.mimetype = mime
    return player


def draw_history(ax, history: dict[str, list[float]], title: str = "training") -> None:
    """Training loss and validation TexStat per epoch on one axis (epoch 0 is the evaluation before training)."""
    ax.plot(history["epoch"][1:], history["train_loss"][1:], "o-", label="train")
    ax.plot(history["epoch"], history["val_texstat"], "o-", label="validation TexStat")
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    ax.legend()


def history_figure(history: dict[str, list[float]], title: str = "training", figsize=(6.5, 2.6)):
    """:func:`draw_history` on a bare :class:`matplotlib.figure.Figure`: no pyplot state and no backend switch,
    so figures in the notebook that called training keep rendering; save it with ``fig.savefig``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    draw_history(fig.subplots(), history, title)
    fig.tight_layout()
    return fig


def plot_history(history: dict[str, list[float]], path) -> None:
    """Write the training curves of a run as a PNG (``loss_plot.png`` in a run directory)."""
    history_figure(history, "training", figsize=(7, 3)).savefig(path, dpi=80)


def labelled_players(signals: dict[str, np.ndarray | torch.Tensor], fs: int, normalize: bool = True,
                     max_seconds: float = 8.0):
    """Audio players side by side, each with its label above (e.g. original | DSP | model | generated), wrapping
    onto the next line where the page is narrow: what every comparison in the book plays."""
    import html

    from IPython.display import HTML

    cells = "".join(f"<div style='text-align:center'><b>{html.escape(label)}</b><br>"
                    f"{audio(x, fs, normalize, max_seconds)._repr_html_()}</div>" for label, x in signals.items())
    return HTML(f"<div style='display:flex;flex-wrap:wrap;gap:0.5em 1.5em'>{cells}</div>")
