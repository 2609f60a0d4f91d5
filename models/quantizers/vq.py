"""VQ-VAE quantizer with taming's two beta placements (taming/modules/vqvae/quantize.py VectorQuantizer2).

legacy=True  (taming default):  ||sg(z_q) - z||^2 + beta * ||z_q - sg(z)||^2   (beta on the codebook term)
legacy=False (VQ-VAE Eq. 3):    beta * ||sg(z_q) - z||^2 + ||z_q - sg(z)||^2   (beta on commitment)

quantizer_source='vqganlc' (VQGAN-LC's VQGAN baseline, its "org" quantizer, vqgan-gpt-lc/models/models_vq.py):
||sg(z_q) - z||^2 + 0.33 * ||z_q - sg(z)||^2, i.e. the legacy placement with 0.33 in place of beta; the same
uniform(-1/K, 1/K) init; its L2 normalisation of features applies only to pre-built 768-d codebooks (encode:
`e_dim == 768 and tuning_codebook != -1`), never to this trainable random codebook.
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

BETA_PLACEMENTS = ("legacy", "corrected")


@register_quantizer("vq")
class VectorQuantizer(Quantizer):
    """Squared-L2 nearest-code quantizer with a straight-through estimator; z: (B, D, h, w)."""

    def __init__(self, n_embed: int, embed_dim: int, beta: float = 0.25, beta_placement: str = "legacy",
                 search_chunk: int = 2**24) -> None:
        super().__init__()
        if beta_placement not in BETA_PLACEMENTS:
            raise ValueError(f"beta_placement must be one of {BETA_PLACEMENTS}, got '{beta_placement}'")
        self.n_embed, self.embed_dim, self.beta = n_embed, embed_dim, beta
        self.beta_placement, self.search_chunk = beta_placement, search_chunk
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_embed, 1.0 / n_embed)  # taming's init

    @classmethod
    def from_config(cls, cfg: Any) -> VectorQuantizer:
        if quantizer_source(cfg) == "vqganlc":  # models_vq.py: fixed 0.33 on the codebook term, config beta unused
            return cls(cfg.n_embed, cfg.embed_dim, VQGANLC_CODEBOOK_WEIGHT, "legacy")
        return cls(cfg.n_embed, cfg.embed_dim, cfg.beta, cfg.beta_placement)

    def forward(self, z: torch.Tensor) -> QuantOutput:
        b, d, h, w = z.shape
        z_flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_code(z_flat.detach(), self.embedding.weight.detach(), self.search_chunk)
        z_q = self.embedding(idx).view(b, h, w, d).permute(0, 3, 1, 2)
        commit = F.mse_loss(z, z_q.detach())  # moves the encoder output towards its code
        codebook = F.mse_loss(z_q, z.detach())  # moves the code towards the encoder output
        if self.beta_placement == "legacy":
            loss = commit + self.beta * codebook
        else:
            loss = self.beta * commit + codebook
        z_q = z + (z_q - z).detach()  # straight-through: forward = z_q, gradient flows to z unchanged
        return QuantOutput(z_q, idx.view(b, h, w, 1), loss, {"commit": commit.detach(), "codebook": codebook.detach()})

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w, 1) indices -> (B, D, h, w) code vectors."""
        return self.embedding(indices[..., 0]).permute(0, 3, 1, 2)

    def search_space(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.embedding.weight, flat(z), 1
