"""The one learning-rate schedule of every trainer: a linear warm-up, then constant, a half-cycle cosine or a linear
decay to 0 at the last step. A pure function of the step, so a resumed run follows the same curve.

The two warm-up rules in use differ by one step, and both are kept so no recipe's numbers change:
- 'from_zero' (the tokenizer trainer, TrainConfig.lr_at): lr * step / warmup, 0 at step 0, as MAE's
  util/lr_sched.py adjust_learning_rate (lr * epoch / warmup_epochs, called per iteration with a fractional epoch),
  which VQGAN-LC's training scripts use with the half-cycle cosine after it.
- 'inclusive' (the prior trainer, models/priors/lengths.py prior_lr): lr * (step + 1) / warmup, counting the step
  being taken, so the peak is reached at the last warm-up step and step 0 already trains.
"""
from __future__ import annotations

import math

WARMUP_RULES = ("from_zero", "inclusive")
DECAYS = ("constant", "cosine", "linear")


def lr_at(step: int, peak: float, steps: int, warmup_steps: int = 0, decay: str = "constant",
          warmup: str = "from_zero", field: str = "train.schedule") -> float:
    """Learning rate at `step` of `steps`: warm-up by `warmup` over warmup_steps, then `decay`; `field` names the
    config field in the error for an unknown decay."""
    if warmup not in WARMUP_RULES:
        raise ValueError(f"warm-up rule must be one of {WARMUP_RULES}, got '{warmup}'")
    if warmup_steps and step < warmup_steps:
        return peak * (step + (warmup == "inclusive")) / warmup_steps
    t = (step - warmup_steps) / max(1, steps - warmup_steps)
    if decay == "constant":
        return peak
    if decay == "cosine":  # MAE lr_sched: half-cycle cosine to 0
        return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if decay == "linear":  # VQGAN-LC App. A (the GPT): linear decay to 0 at the last step
        return peak * max(0.0, 1.0 - t)
    raise ValueError(f"{field} must be one of {DECAYS}, got '{decay}'")
