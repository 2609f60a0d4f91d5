"""VQ with an EMA codebook (van den Oord et al. 2017, App. A.1; Razavi et al. 2019): VQGAN-EMA and RQ-VAE.

Codes are exponential moving averages of the encoder outputs assigned to them, with Laplace-smoothed
counts `(N_k + eps) / (n + K eps) * n`; updates happen only in training mode (VQGAN-LC's EMA branch also
updates during eval, a bug not copied here). Only the commitment term `beta * ||sg(z_q) - z||^2` is a loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.quantizers.base import QuantOutput, fp32_forward
from models.quantizers.search import nearest_code


class EMACodebook(nn.Module):
    """K x D codebook as buffers, updated by EMA; optionally restarts codes whose EMA count falls below 1."""

    def __init__(self, n_embed: int, embed_dim: int, decay: float = 0.99, eps: float = 1e-5,
                 restart_threshold: float = 0.0) -> None:
        super().__init__()
        self.n_embed, self.decay, self.eps, self.restart_threshold = n_embed, decay, eps, restart_threshold
        # taming EMAVectorQuantizer / VQGAN-LC / RQ-VAE VQEmbedding: unit-normal codes, counts from zero
        embed = torch.randn(n_embed, embed_dim)
        self.register_buffer("embed", embed)
        self.register_buffer("cluster_size", torch.zeros(n_embed))
        self.register_buffer("embed_avg", embed.clone())

    def search(self, z_flat: torch.Tensor) -> torch.Tensor:
        return nearest_code(z_flat, self.embed)

    @torch.no_grad()
    def update(self, z_flat: torch.Tensor, idx: torch.Tensor) -> None:
        """One EMA step from a batch of vectors and their assignments (call in training mode only)."""
        onehot_sum = torch.zeros(self.n_embed, device=z_flat.device, dtype=z_flat.dtype).index_add_(
            0, idx, torch.ones_like(idx, dtype=z_flat.dtype))
        embed_sum = torch.zeros_like(self.embed_avg).index_add_(0, idx, z_flat)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(onehot_sum)
            torch.distributed.all_reduce(embed_sum)
        self.cluster_size.mul_(self.decay).add_(onehot_sum, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(embed_sum, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.n_embed * self.eps) * n
        self.embed.copy_(self.embed_avg / smoothed[:, None])
        if self.restart_threshold > 0:
            self._restart(z_flat)

    def _restart(self, z_flat: torch.Tensor) -> None:
        """RQ-VAE: re-seed codes with EMA count < threshold from random encoder outputs of this batch."""
        dead = self.cluster_size < self.restart_threshold
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        pick = torch.randint(0, z_flat.shape[0], (n_dead,), device=z_flat.device)
        self.embed[dead] = z_flat[pick]
        self.embed_avg[dead] = z_flat[pick]
        self.cluster_size[dead] = 1.0
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            for buf in (self.embed, self.embed_avg, self.cluster_size):  # every rank keeps rank 0's restarts
                torch.distributed.broadcast(buf, 0)


class EMAVectorQuantizer(nn.Module):
    """VQGAN-EMA: squared-L2 lookup in an EMA codebook; z (B, D, h, w) -> indices (B, h, w, 1)."""

    def __init__(self, n_embed: int, embed_dim: int, beta: float = 0.25, decay: float = 0.99,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.beta = beta
        self.codebook = EMACodebook(n_embed, embed_dim, decay, eps)

    @fp32_forward
    def forward(self, z: torch.Tensor) -> QuantOutput:
        b, d, h, w = z.shape
        z_flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        idx = self.codebook.search(z_flat.detach())
        # the batch is quantised with the codes from before this step's EMA update (taming, VQGAN-LC, RQ-VAE)
        z_q = self.codebook.embed[idx].view(b, h, w, d).permute(0, 3, 1, 2)
        if self.training:
            self.codebook.update(z_flat.detach(), idx)
        commit = F.mse_loss(z, z_q.detach())
        z_q = z + (z_q - z).detach()
        return QuantOutput(z_q, idx.view(b, h, w, 1), self.beta * commit, {"commit": commit.detach()})

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return self.codebook.embed[indices[..., 0]].permute(0, 3, 1, 2)
