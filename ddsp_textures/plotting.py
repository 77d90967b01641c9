"""Plots and audio players used by the book and by users in notebooks."""

from __future__ import annotations

import numpy as np
import torch

from .filterbanks import FilterBank, rfft_frequencies


def _np(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def spectrogram(ax, x: np.ndarray | torch.Tensor, fs: float, title: str = "", n_fft: int = 1024,
                max_freq: float | None = None) -> None:
    """Log-magnitude spectrogram (dB) of a mono signal on a matplotlib axis."""
    x = _np(x).astype(np.float64)
    hop = n_fft // 4
    window = np.hanning(n_fft)
    n = 1 + max(0, (len(x) - n_fft) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n] * window
    mag = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)).T + 1e-6)
    ax.imshow(mag, origin="lower", aspect="auto", cmap="magma", vmin=mag.max() - 80, vmax=mag.max(),
              extent=(0, len(x) / fs, 0, fs / 2))
    ax.set(xlabel="time (s)", ylabel="frequency (Hz)", title=title, ylim=(0, max_freq or fs / 2))


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


def audio(x: np.ndarray | torch.Tensor, fs: int, normalize: bool = True):
    """An IPython audio player (peak-normalised by default)."""
    from IPython.display import Audio

    return Audio(_np(x).astype(np.float32), rate=int(fs), normalize=normalize)
