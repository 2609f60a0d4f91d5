"""VQ with an EMA codebook (van den Oord et al. 2017, App. A.1; Razavi et al. 2019): VQGAN-EMA and RQ-VAE.

Codes are exponential moving averages of the encoder outputs assigned to them, with Laplace-smoothed
counts `(N_k + eps) / (n + K eps) * n`; updates happen only in training mode (VQGAN-LC's EMA branch also
updates during eval, a bug not copied here). Only the commitment term `||sg(z_q) - z||^2` is a loss, weighted by
the source's rule (`quantizer_source`):
- taming (taming/modules/vqvae/quantize.py EMAVectorQuantizer): `beta * commit`, unit-normal initial codes;
- vqganlc (VQGAN-LC vqgan-gpt-lc/models/models_vq.py VQModel.quantize, quantize_type 'ema'):
  `F.mse_loss(z_q.detach(), z)` with no beta (the trainer's rate_q 0.1 is the only weight), initial codes
  uniform(-1/K, 1/K) (its tok_embeddings init, copied into embed_avg).
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.quantizers.base import Quantizer, QuantOutput, flat, quantizer_source, register_quantizer
from models.quantizers.search import nearest_code


class EMACodebook(nn.Module):
    """K x D codebook as buffers, updated by EMA; optionally restarts codes whose EMA count falls below 1."""

    def __init__(self, n_embed: int, embed_dim: int, decay: float = 0.99, eps: float = 1e-5,
                 restart_threshold: float = 0.0, init: Literal["normal", "uniform"] = "normal") -> None:
        super().__init__()
        self.n_embed, self.decay, self.eps, self.restart_threshold = n_embed, decay, eps, restart_threshold
        # taming EMAVectorQuantizer / RQ-VAE VQEmbedding: unit-normal codes (nn.Embedding's init);
        # VQGAN-LC models_vq.py: tok_embeddings uniform(-1/K, 1/K); counts from zero in all three
        if init == "uniform":
            embed = torch.empty(n_embed, embed_dim).uniform_(-1.0 / n_embed, 1.0 / n_embed)
        else:
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
        if self.restart_threshold > 0:  # RQ-VAE _update_buffers: restarts act on the EMA sums, before normalising
            self._restart(z_flat)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.n_embed * self.eps) * n
        self.embed.copy_(self.embed_avg / smoothed[:, None])

    def _restart(self, z_flat: torch.Tensor) -> None:
        """RQ-VAE (rqvae/models/rqvae/quantizations.py VQEmbedding._update_buffers): every code draws a distinct
        batch vector by randperm (the batch tiled with uniform noise of scale 0.01/sqrt(D) when it has fewer
        vectors than codes, so restarted codes are never identical); codes with EMA count < threshold take theirs
        and a count of 1. The draw happens at every step, as in the official code (same random stream)."""
        vectors = z_flat
        if vectors.shape[0] < self.n_embed:
            vectors = _tile_with_noise(vectors, self.n_embed)
        drawn = vectors[torch.randperm(vectors.shape[0], device=vectors.device)][: self.n_embed]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(drawn, 0)  # every rank restarts with rank 0's draw
        usage = (self.cluster_size >= self.restart_threshold).to(self.embed_avg.dtype)
        self.embed_avg.mul_(usage[:, None]).add_(drawn * (1 - usage[:, None]))
        self.cluster_size.mul_(usage).add_(1 - usage)


def _tile_with_noise(x: torch.Tensor, target_n: int) -> torch.Tensor:
    """x (B, D) repeated to >= target_n rows plus U[0, 1) * 0.01 / sqrt(D) noise (RQ-VAE _tile_with_noise)."""
    n_repeats = (target_n + x.shape[0] - 1) // x.shape[0]
    std = x.new_ones(x.shape[1]) * 0.01 / np.sqrt(x.shape[1])
    x = x.repeat(n_repeats, 1)
    return x + torch.rand_like(x) * std


@register_quantizer("ema")
class EMAVectorQuantizer(Quantizer):
    """VQGAN-EMA: squared-L2 lookup in an EMA codebook; z (B, D, h, w) -> indices (B, h, w, 1)."""

    recipe_fields = ("ema_decay",)

    def __init__(self, n_embed: int, embed_dim: int, beta: float = 0.25, decay: float = 0.99,
                 eps: float = 1e-5, init: Literal["normal", "uniform"] = "normal") -> None:
        super().__init__()
        self.beta = beta
        self.codebook = EMACodebook(n_embed, embed_dim, decay, eps, init=init)

    @classmethod
    def from_config(cls, cfg: Any) -> EMAVectorQuantizer:
        if quantizer_source(cfg) == "vqganlc":  # models_vq.py: loss = mse(sg(z_q), z), no beta; uniform init
            return cls(cfg.n_embed, cfg.embed_dim, 1.0, cfg.ema_decay, cfg.ema_eps, init="uniform")
        return cls(cfg.n_embed, cfg.embed_dim, cfg.beta, cfg.ema_decay, cfg.ema_eps)

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

    def search_space(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.codebook.embed, flat(z), 1
