"""MoVQ multichannel quantization (Zheng et al. 2022, Sec. 3.1): c chunks of z against one shared codebook.

z (B, n_z, h, w) is split along channels into c chunks of n_z / c; each chunk is quantised (taming VQ,
either beta placement) against the same K x (n_z / c) codebook, giving indices (B, h, w, c).
"""
from __future__ import annotations

import torch
from torch import nn

from models.quantizers.base import QuantOutput, fp32_forward
from models.quantizers.vq import VectorQuantizer


class MultichannelQuantizer(nn.Module):
    """Shared-codebook VQ of c channel chunks; z_q is the concatenation of the c chunk codes."""

    def __init__(self, n_embed: int, embed_dim: int, channels: int, beta: float = 0.25,
                 beta_placement: str = "legacy") -> None:
        super().__init__()
        if embed_dim % channels:
            raise ValueError(f"embed_dim {embed_dim} must divide into {channels} chunks")
        self.channels = channels
        self.vq = VectorQuantizer(n_embed, embed_dim // channels, beta, beta_placement)

    @fp32_forward
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
