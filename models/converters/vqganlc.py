"""VQGAN-LC (zh460045050/VQGAN-LC models_vq.py VQModel): taming encoder/decoder names, plus
tok_embeddings.weight (the frozen K x 768 codebook) and codebook_projection.{weight,bias} (the projector)."""
from __future__ import annotations

import torch
from torch import nn

from models.converters.base import CONVERTERS

RENAMES = {"tok_embeddings.weight": "quantize.codebook", "codebook_projection.weight": "quantize.projection.weight",
           "codebook_projection.bias": "quantize.projection.bias"}
DROPPED = ("discriminator.", "perceptual_loss.")


@CONVERTERS.register("vqganlc")
def convert_vqganlc(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename the codebook and projector; drop the discriminator and LPIPS copies the training wrapper holds."""
    return {RENAMES.get(k, k): v for k, v in state.items() if not k.startswith(DROPPED)}
