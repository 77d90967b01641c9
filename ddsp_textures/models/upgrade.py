"""Load weights saved by earlier releases: their state-dict names are mapped onto today's modules."""

from __future__ import annotations

import torch

# (old prefix, new prefix), applied in order to every key
RENAMES = (
    ("encoders.", "encoder.mlps."),       # per-feature MLPs moved into the shared FeatureEncoder
    ("gru.", "encoder.gru."),
    ("synth.seed", "synth.carriers"),     # the noise carriers are no longer called "seed"
    ("vae.seed", "vae.carriers"),
)


def upgrade_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with the key names of the current models (unchanged if it already has them).

    >>> sorted(upgrade_state_dict({"gru.weight_hh_l0": 1, "synth.seed": 2}))
    ['encoder.gru.weight_hh_l0', 'synth.carriers']
    """
    out = {}
    for key, value in state.items():
        for old, new in RENAMES:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out
