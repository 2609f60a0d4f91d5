"""SeQ-GAN's quantizer (Gu et al. 2024, Eq. 2 and Sec. 3.4; Table 5): VQ with entropy-regularised soft usage,
or with a data-dependent k-means initialisation (Lancucki et al. 2020, the Table 5 '+K-means' row).

Entropy regularisation: D_ik = ||z_i - e_k||_2, soft assignment softmax_k(-D_ik), soft usage D_bar = mean_i,
and gamma * H(D_bar) enters the loss with the sign that *raises* H(D_bar) (the paper writes L + gamma H but
states the aim is a smoother, higher-usage D_bar; we follow the stated aim and record it). Eq. 2's codebook
and commitment terms use beta on the commitment: ||sg(z) - z_q||^2 + beta ||sg(z_q) - z||^2.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.quantizers.base import QuantOutput, fp32_forward
from models.quantizers.search import nearest_code

MAX_ENTROPY_CODES = 65_536  # the soft assignment is N x K by definition; refuse codebooks where that explodes


class EntropyVectorQuantizer(nn.Module):
    """Squared-L2 VQ with optional entropy regulariser (gamma) and optional first-batch k-means init."""

    def __init__(self, n_embed: int, embed_dim: int, beta: float = 0.25, entropy_gamma: float = 0.0,
                 entropy_temperature: float = 1.0, kmeans_init: bool = False, kmeans_iters: int = 10) -> None:
        super().__init__()
        if entropy_gamma > 0 and n_embed > MAX_ENTROPY_CODES:
            raise ValueError(f"entropy regularisation forms an N x K soft assignment; K={n_embed} exceeds "
                             f"{MAX_ENTROPY_CODES}. Use codebook_reg=none or a smaller codebook.")
        self.n_embed, self.beta, self.gamma, self.temperature = n_embed, beta, entropy_gamma, entropy_temperature
        self.kmeans_init, self.kmeans_iters = kmeans_init, kmeans_iters
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_embed, 1.0 / n_embed)
        self.register_buffer("initialized", torch.tensor(not kmeans_init))  # saved: a resumed run does not redo it

    @torch.no_grad()
    def _kmeans(self, z_flat: torch.Tensor) -> None:
        """Lloyd's k-means on one batch of encoder outputs; empty clusters keep a random batch vector."""
        n = z_flat.shape[0]
        pick = torch.randperm(n, device=z_flat.device)[: self.n_embed] if n >= self.n_embed else \
            torch.randint(0, n, (self.n_embed,), device=z_flat.device)
        centers = z_flat[pick].clone()
        for _ in range(self.kmeans_iters):
            idx = nearest_code(z_flat, centers)
            sums = torch.zeros_like(centers).index_add_(0, idx, z_flat)
            counts = torch.zeros(self.n_embed, device=z_flat.device).index_add_(0, idx, torch.ones_like(idx, dtype=z_flat.dtype))
            filled = counts > 0
            centers[filled] = sums[filled] / counts[filled, None]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(centers, 0)
        self.embedding.weight.data.copy_(centers)
        self.initialized.fill_(True)

    def entropy(self, z_flat: torch.Tensor) -> torch.Tensor:
        """H(D_bar) of the batch's soft codebook usage (differentiable w.r.t. z and the codebook)."""
        e = self.embedding.weight
        sq = (z_flat.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2 * z_flat @ e.t()).clamp_min(1e-12)
        p = torch.softmax(-sq.sqrt() / self.temperature, dim=1)
        usage = p.mean(0)
        return -(usage * torch.log(usage + 1e-10)).sum()

    @fp32_forward
    def forward(self, z: torch.Tensor) -> QuantOutput:
        b, d, h, w = z.shape
        z_flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        if self.training and not bool(self.initialized):
            self._kmeans(z_flat.detach())
        idx = nearest_code(z_flat.detach(), self.embedding.weight.detach())
        z_q = self.embedding(idx).view(b, h, w, d).permute(0, 3, 1, 2)
        codebook = F.mse_loss(z_q, z.detach())
        commit = F.mse_loss(z, z_q.detach())
        loss = codebook + self.beta * commit
        terms = {"commit": commit.detach(), "codebook": codebook.detach()}
        if self.gamma > 0 and self.training:
            ent = self.entropy(z_flat)
            loss = loss - self.gamma * ent  # raise the soft-usage entropy (see module docstring)
            terms["usage_entropy"] = ent.detach()
        z_q = z + (z_q - z).detach()
        return QuantOutput(z_q, idx.view(b, h, w, 1), loss, terms)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return self.embedding(indices[..., 0]).permute(0, 3, 1, 2)
