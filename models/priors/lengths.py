"""A prior's learning-rate schedule in its paper's terms (the lengths are derived at plan time in
`bench/plan/prior_lengths.py`)."""
from __future__ import annotations

from typing import Any


def prior_lr(train: Any, step: int) -> float:
    """Learning rate at `step`: linear warm-up over warmup_steps, then constant or (lr_schedule 'linear', VQGAN-LC
    App. A) a linear decay to 0 at the last step."""
    if train.warmup_steps and step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    if train.lr_schedule == "linear":
        span = max(1, train.steps - train.warmup_steps)
        return train.lr * max(0.0, 1.0 - (step - train.warmup_steps) / span)
    if train.lr_schedule != "constant":
        raise ValueError(f"train.lr_schedule must be 'constant' or 'linear', got '{train.lr_schedule}'")
    return train.lr
