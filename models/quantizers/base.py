"""The output every quantizer returns (vector-quantize-pytorch style named tuple)."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import torch


class QuantOutput(NamedTuple):
    """z_q: (B, D, h, w) straight-through quantised latents; indices: (B, h, w, c); loss: scalar."""

    z_q: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    terms: dict[str, torch.Tensor]


def fp32_forward(forward: Callable[..., QuantOutput]) -> Callable[..., QuantOutput]:
    """Run a quantizer's forward outside autocast on fp32 latents: under bf16/fp16 training the distances, the
    codebook (and its projection), the EMA statistics and the losses stay fp32, so the chosen codes do not depend
    on the training precision (issue #16.1). A no-op for fp32 inputs without autocast."""
    @functools.wraps(forward)
    def run(self, z: torch.Tensor, *args: Any, **kwargs: Any) -> QuantOutput:
        with torch.autocast(z.device.type, enabled=False):
            return forward(self, z.float(), *args, **kwargs)
    return run
