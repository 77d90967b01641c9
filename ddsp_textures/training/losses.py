"""The training objective, in one place (book chapter: *DDSP training*): :class:`TrainingLoss` is built from a
config and returns its named terms, so the trainer stays generic and every term can be inspected.

Terms (each present only where the config asks for it):

* ``"texstat"``: TexStat between output and target frames (:class:`~ddsp_textures.stats.texstat.TexStat`), or against
  the target frames' cached statistics;
* ``"mss"``: the multi-scale spectral loss (:class:`~ddsp_textures.dsp.spectral.MultiScaleSpectralLoss`);
* ``"rate"``: ``rate_supervision`` × the squared log-ratio between the event-rate control and the rate measured
  on the target frames (:func:`~ddsp_textures.models.event_head.rate_supervision`; P-VAE and hybrid);
* ``"gain"``: ``event_gain_penalty`` × the hybrid's mean event gain (events must lower TexStat by more than
  they cost);
* ``"regularizer"``: ``regularizer_weight`` × the MSE between features recomputed on output and target.

The loss is their sum, in that order.
"""

from __future__ import annotations

import torch
from torch import nn

from ddsp_textures.dsp.filterbanks import FilterBank
from ddsp_textures.dsp.spectral import MultiScaleSpectralLoss
from ddsp_textures.models.event_head import EventControls, rate_supervision
from ddsp_textures.stats.features import compute_features, estimate_event_rate
from ddsp_textures.stats.texstat import TexStat
from ddsp_textures.training.config import TrainConfig


def frames_of(x: torch.Tensor) -> torch.Tensor:
    """Items of consecutive frames ``(B, S, L)`` as one batch of frames ``(B·S, L)``."""
    return x.reshape(-1, x.shape[-1])


class TrainingLoss(nn.Module):
    """The training objective of a config (see the module docstring).

    Shape:
        ``terms(x, y)``: target and output ``(B, S, L)`` → ``{name: scalar}``; ``forward`` → their sum.
    """

    def __init__(self, texstat: TexStat | None, mss: MultiScaleSpectralLoss | None, bank: FilterBank, fs: float,
                 rate_weight: float = 0.0, gain_weight: float = 0.0, regularizers: list[str] | None = None,
                 regularizer_weight: float = 0.0) -> None:
        super().__init__()
        if texstat is None and mss is None:
            raise ValueError("a training loss needs a TexStat term, a multi-scale spectral term, or both")
        self.texstat, self.mss, self.bank, self.fs = texstat, mss, bank, float(fs)
        self.rate_weight, self.gain_weight = float(rate_weight), float(gain_weight)
        self.regularizers, self.regularizer_weight = list(regularizers or []), float(regularizer_weight)

    @classmethod
    def from_config(cls, cfg: TrainConfig, bank: FilterBank, texstat: TexStat | None = None) -> TrainingLoss:
        """The objective ``cfg`` describes (``loss_function``, ``rate_supervision``, ``event_gain_penalty``,
        ``regularizers_list``, ``regularizer_weight``); ``bank`` is the model's, for the regularisers'
        features; ``texstat`` the configured TexStat (built from ``cfg`` if not given)."""
        from ddsp_textures.training.builders import build_texstat

        uses_texstat, uses_mss = cfg.loss_function != "multiscale", cfg.loss_function != "texstat"
        if uses_texstat and texstat is None:
            texstat = build_texstat(cfg)
        events = cfg.has_events
        return cls(texstat if uses_texstat else None, MultiScaleSpectralLoss() if uses_mss else None, bank,
                   cfg.sampling_rate, cfg.rate_supervision if events else 0.0,
                   cfg.event_gain_penalty if events else 0.0, cfg.regularizers_list, cfg.regularizer_weight)

    @property
    def needs_controls(self) -> bool:
        """Whether :meth:`terms` needs the model's event controls (rate supervision or the gain penalty)."""
        return self.rate_weight > 0 or self.gain_weight > 0

    def terms(self, x: torch.Tensor, y: torch.Tensor, controls: EventControls | None = None,
              targets: list[torch.Tensor] | None = None, events_enabled: bool = True) -> dict[str, torch.Tensor]:
        """The named terms for targets ``x`` and outputs ``y``; ``targets``: the TexStat statistics of the target
        frames where known (they never change during training); ``events_enabled=False``: a hybrid training
        its bed alone (no gain penalty)."""
        out: dict[str, torch.Tensor] = {}
        if self.texstat is not None:
            out["texstat"] = (self.texstat(frames_of(y), frames_of(x)) if targets is None
                              else self.texstat.loss_to_statistics(frames_of(y), targets))
        if self.mss is not None:
            out["mss"] = self.mss(frames_of(x), frames_of(y))
        if controls is not None and self.rate_weight > 0:
            measured = estimate_event_rate(x, self.fs)
            out["rate"] = self.rate_weight * rate_supervision(controls.rate, measured)
        if controls is not None and controls.gain is not None and self.gain_weight > 0 and events_enabled:
            out["gain"] = self.gain_weight * controls.gain.mean()
        if self.regularizers:
            fx = compute_features(x, self.regularizers, self.bank)
            fy = compute_features(y, self.regularizers, self.bank)
            reg = sum(torch.nn.functional.mse_loss(a, b) for a, b in zip(fy, fx, strict=True))
            out["regularizer"] = self.regularizer_weight * reg
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor, controls: EventControls | None = None,
                targets: list[torch.Tensor] | None = None, events_enabled: bool = True) -> torch.Tensor:
        total = torch.zeros((), device=y.device)
        for value in self.terms(x, y, controls, targets, events_enabled).values():
            total = total + value
        return total
