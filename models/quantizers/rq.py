"""Residual quantization (RQ-VAE, Lee et al. 2022, Eq. 3-6; kakaobrain rqvae/models/rqvae/quantizations.py).

Depth D steps quantize the running residual against one shared EMA codebook; the code stack at a position
is its D indices, so the token map is (h, w, D). The commitment loss is the mean over depth of
||z - sg(sum_{d' <= d} q_d')||^2; dead codes (EMA count < 1) restart from encoder outputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.quantizers.base import QuantOutput, fp32_forward
from models.quantizers.ema import EMACodebook


class ResidualQuantizer(nn.Module):
    """z (B, D, h, w) -> indices (B, h, w, depth), z_q = sum of the depth code vectors."""

    def __init__(self, n_embed: int, embed_dim: int, depth: int = 4, beta: float = 0.25, decay: float = 0.99,
                 eps: float = 1e-5, restart_threshold: float = 1.0) -> None:
        super().__init__()
        self.depth, self.beta = depth, beta
        self.codebook = EMACodebook(n_embed, embed_dim, decay, eps, restart_threshold)

    @fp32_forward
    def forward(self, z: torch.Tensor) -> QuantOutput:
        b, d, h, w = z.shape
        z_flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        residual = z_flat.detach()
        aggregate = torch.zeros_like(residual)
        indices, commits = [], []
        for _ in range(self.depth):
            idx = self.codebook.search(residual)
            q = self.codebook.embed[idx]  # codes from before the EMA update and restart (RQ-VAE quantizations.py)
            if self.training:
                self.codebook.update(residual, idx)
            residual = residual - q
            aggregate = aggregate + q
            indices.append(idx)
            commits.append(F.mse_loss(z_flat, aggregate.detach()))
        commit = torch.stack(commits).mean()
        z_q = aggregate.view(b, h, w, d).permute(0, 3, 1, 2)
        z_q = z + (z_q - z).detach()
        idx = torch.stack(indices, -1).view(b, h, w, self.depth)
        return QuantOutput(z_q, idx, self.beta * commit, {"commit": commit.detach()})

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w, depth) -> the sum of the depth code vectors, (B, D, h, w)."""
        return self.codebook.embed[indices].sum(-2).permute(0, 3, 1, 2)
