"""Exponential moving average of a prior's weights, as the official DiT / SiT / LDM trainers keep and sample from.

- DiT train.py / SiT train.py: `ema = deepcopy(model)`, then after every optimiser step
  ema = decay * ema + (1 - decay) * model with decay 0.9999 (no warm-up).
- LDM (ldm/modules/ema.py LitEma, use_num_upates=True): the decay of update n (1-based) is
  min(decay, (1 + n) / (10 + n)).
Buffers are copied, not averaged (DiT's update_ema averages parameters only; LitEma parameters only).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bench.core.artifacts import load_artifact


class EMA:
    def __init__(self, model: nn.Module, decay: float, warmup: bool = False) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay, self.warmup, self.updates = decay, warmup, 0
        self.shadow = {k: p.detach().float().clone() for k, p in model.named_parameters()}

    def current_decay(self) -> float:
        """The decay the next update uses."""
        if self.warmup:
            n = self.updates + 1
            return min(self.decay, (1 + n) / (10 + n))
        return self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        for k, p in model.named_parameters():
            s = self.shadow[k]
            s.mul_(d).add_(p.detach().to(s.device, s.dtype), alpha=1.0 - d)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "warmup": self.warmup, "updates": self.updates,
                "shadow": {k: v.cpu() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.warmup, self.updates = state["decay"], state["warmup"], int(state["updates"])
        self.shadow = {k: v.to(self.shadow[k].device) for k, v in state["shadow"].items()}

    def facts(self) -> dict[str, Any]:
        return {"ema_decay": self.decay, "ema_warmup": "litema" if self.warmup else "none", "ema_updates": self.updates}


def load_prior_weights(path, weights: str = "ema") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights a prior samples with from prior.safetensors (+ .json): the EMA when one was kept and `weights` is
    'ema' (the official DiT / SiT / LDM samplers), else the raw ones; and the facts for the records."""
    if weights not in ("ema", "raw"):
        raise ValueError(f"sample.weights must be 'ema' or 'raw', got '{weights}'")
    state = load_artifact(path)
    ema, raw = state.get("ema"), state["state_dict"]
    if weights == "ema" and ema is not None:  # the trainer's EMA callback state (EMA.state_dict) under 'ema'
        sd = {k: (ema["shadow"][k].to(v.dtype) if k in ema["shadow"] else v) for k, v in raw.items()}
        facts = {"ema_decay": ema["decay"], "ema_warmup": "litema" if ema["warmup"] else "none",
                 "ema_updates": ema["updates"]}
        return sd, {"prior_weights": "ema", **facts}
    return raw, {"prior_weights": "raw", "ema_decay": None}
