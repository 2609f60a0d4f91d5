"""The output every quantizer returns (vector-quantize-pytorch style named tuple)."""
from __future__ import annotations

from typing import NamedTuple

import torch


class QuantOutput(NamedTuple):
    """z_q: (B, D, h, w) straight-through quantised latents; indices: (B, h, w, c); loss: scalar."""

    z_q: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
