"""taming-transformers VQModel (vqgan_imagenet_f16_1024 / _16384 .ckpt): our modules keep taming's names, so the
conversion drops the loss (discriminator + LPIPS) and keeps the rest unchanged."""
from __future__ import annotations

import torch
from torch import nn

from models.converters.base import CONVERTERS


@CONVERTERS.register("taming")
def convert_taming(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """encoder.*, decoder.*, quant_conv.*, post_quant_conv.*, quantize.embedding.weight -> same names."""
    return {k: v for k, v in state.items() if not k.startswith("loss.")}
