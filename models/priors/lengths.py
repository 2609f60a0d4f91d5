"""A prior's learning-rate schedule in its paper's terms (the lengths are derived at plan time in
`bench/plan/prior_lengths.py`)."""
from __future__ import annotations

from typing import Any

from models.schedule import lr_at


def prior_lr(train: Any, step: int) -> float:
    """Learning rate at `step`: the one schedule (models/schedule.py) with the prior trainer's inclusive warm-up,
    then constant or (lr_schedule 'linear', VQGAN-LC App. A) a linear decay to 0 at the last step."""
    if train.lr_schedule not in ("constant", "linear"):
        raise ValueError(f"train.lr_schedule must be 'constant' or 'linear', got '{train.lr_schedule}'")
    return lr_at(step, train.lr, train.steps, train.warmup_steps, train.lr_schedule, warmup="inclusive",
                 field="train.lr_schedule")
