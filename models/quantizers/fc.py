"""Factorized, l2-normalised codes (ViT-VQGAN, Yu et al. 2022, Sec. 3.2; LlamaGen vq_model.py): VQGAN-FC.

The encoder output is projected to a low code dimension (quant_conv, e.g. 256 -> 8); codes and inputs
are l2-normalised, so the squared-L2 lookup is a cosine lookup. Losses as in LlamaGen:
||sg(z) - z_q||^2 (codebook) + beta * ||z - sg(z_q)||^2 (commitment), on the normalised vectors.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.quantizers.base import QuantOutput, fp32_forward
from models.quantizers.search import nearest_code


class FactorizedQuantizer(nn.Module):
    """Cosine-similarity lookup in a low-dimensional, l2-normalised codebook; z: (B, D', h, w)."""

    def __init__(self, n_embed: int, embed_dim: int, beta: float = 0.25) -> None:
        super().__init__()
        self.beta = beta
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_embed, 1.0 / n_embed)

    def codes(self) -> torch.Tensor:
        return F.normalize(self.embedding.weight, dim=1)

    @fp32_forward
    def forward(self, z: torch.Tensor) -> QuantOutput:
        b, d, h, w = z.shape
        z = F.normalize(z, dim=1)
        z_flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        codes = self.codes()
        idx = nearest_code(z_flat.detach(), codes.detach())
        z_q = codes[idx].view(b, h, w, d).permute(0, 3, 1, 2)
        codebook = F.mse_loss(z_q, z.detach())
        commit = F.mse_loss(z, z_q.detach())
        z_q = z + (z_q - z).detach()
        return QuantOutput(z_q, idx.view(b, h, w, 1), codebook + self.beta * commit,
                           {"commit": commit.detach(), "codebook": codebook.detach()})

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return self.codes()[indices[..., 0]].permute(0, 3, 1, 2)
