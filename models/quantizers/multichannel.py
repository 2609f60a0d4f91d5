"""MoVQ multichannel quantization (Zheng et al. 2022, Sec. 3.1): c chunks of z against one shared codebook.

z (B, n_z, h, w) is split along channels into c chunks of n_z / c; each chunk is quantised (taming VQ,
either beta placement) against the same K x (n_z / c) codebook, giving indices (B, h, w, c).
"""
from __future__ import annotations

from typing import Any

import torch

from models.quantizers.base import Quantizer, QuantOutput, register_quantizer
from models.quantizers.vq import VectorQuantizer


@register_quantizer("multichannel")
class MultichannelQuantizer(Quantizer):
    """Shared-codebook VQ of c channel chunks; z_q is the concatenation of the c chunk codes."""

    def __init__(self, n_embed: int, embed_dim: int, channels: int, beta: float = 0.25,
                 beta_placement: str = "legacy") -> None:
        super().__init__()
        if embed_dim % channels:
            raise ValueError(f"embed_dim {embed_dim} must divide into {channels} chunks")
        self.channels = self.code_channels = channels
        self.vq = VectorQuantizer(n_embed, embed_dim // channels, beta, beta_placement)

    @classmethod
    def from_config(cls, cfg: Any) -> MultichannelQuantizer:
        return cls(cfg.n_embed, cfg.embed_dim, cfg.channels, cfg.beta, cfg.beta_placement)

    @classmethod
    def channels_for(cls, cfg: Any) -> int:
        return cfg.channels

    def forward(self, z: torch.Tensor) -> QuantOutput:
        b, d, h, w = z.shape
        chunks = z.reshape(b * self.channels, d // self.channels, h, w)  # chunk j = channels [j*d/c, (j+1)*d/c)
        q = self.vq(chunks)
        idx = q.indices.view(b, self.channels, h, w).permute(0, 2, 3, 1)
        return QuantOutput(q.z_q.reshape(b, d, h, w), idx, q.loss, q.terms)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w, c) -> (B, n_z, h, w)."""
        b, h, w, c = indices.shape
        codes = self.vq.embedding(indices)  # (B, h, w, c, n_z / c)
        return codes.reshape(b, h, w, -1).permute(0, 3, 1, 2)

    def search_space(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Chunks in (b, h, w, c) order against the shared codebook."""
        b, d, h, w = z.shape
        c = self.channels
        chunks = z.reshape(b, c, d // c, h, w).permute(0, 3, 4, 1, 2).reshape(-1, d // c)
        return self.vq.embedding.weight, chunks, c
