"""Factorized, l2-normalised codes (ViT-VQGAN, Yu et al. 2022, Sec. 3.2; LlamaGen vq_model.py): VQGAN-FC.

The encoder output is projected to a low code dimension (quant_conv, e.g. 256 -> 8); codes and inputs
are l2-normalised, so the squared-L2 lookup is a cosine lookup. Losses as in LlamaGen:
||sg(z) - z_q||^2 (codebook) + beta * ||z - sg(z_q)||^2 (commitment), on the normalised vectors.

quantizer_source='vqganlc': VQGAN-LC's repository has no FC quantizer type (models_vq.py knows 'ema' and the
default "org" path only), so its VQGAN-FC rows can only have used the org loss on the factorized codes:
||sg(z_q) - z||^2 + 0.33 * ||z_q - sg(z)||^2 (commitment weight 1, codebook 0.33); the l2 normalisation stays (the
paper's definition of FC, ViT-VQGAN Sec. 3.2). Which weighting ran is the entry's `quantizer_source`.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from models.quantizers.base import (
    VQGANLC_CODEBOOK_WEIGHT,
    Quantizer,
    QuantOutput,
    flat,
    quantizer_source,
    register_quantizer,
)
from models.quantizers.search import nearest_code


@register_quantizer("fc")
class FactorizedQuantizer(Quantizer):
    """Cosine-similarity lookup in a low-dimensional, l2-normalised codebook; z: (B, D', h, w)."""

    def __init__(self, n_embed: int, embed_dim: int, beta: float = 0.25, commit_weight: float | None = None,
                 codebook_weight: float = 1.0) -> None:
        super().__init__()
        self.beta = beta
        # LlamaGen: codebook + beta * commit; VQGAN-LC org: commit + 0.33 * codebook
        self.commit_weight = beta if commit_weight is None else commit_weight
        self.codebook_weight = codebook_weight
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_embed, 1.0 / n_embed)

    @classmethod
    def from_config(cls, cfg: Any) -> FactorizedQuantizer:
        if quantizer_source(cfg) == "vqganlc":
            return cls(cfg.n_embed, cfg.embed_dim, cfg.beta, commit_weight=1.0, codebook_weight=VQGANLC_CODEBOOK_WEIGHT)
        return cls(cfg.n_embed, cfg.embed_dim, cfg.beta)

    def codes(self) -> torch.Tensor:
        """The l2-normalised codebook (K, D')."""
        return F.normalize(self.embedding.weight, dim=1)

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
        return QuantOutput(z_q, idx.view(b, h, w, 1), self.codebook_weight * codebook + self.commit_weight * commit,
                           {"commit": commit.detach(), "codebook": codebook.detach()})

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return self.codes()[indices[..., 0]].permute(0, 3, 1, 2)

    def search_space(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.codes(), flat(F.normalize(z, dim=1)), 1
