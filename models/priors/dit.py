"""DiT (Peebles & Xie 2023): patchify latents, adaLN-Zero transformer blocks conditioned on timestep + class,
fixed 2-D sin-cos position embedding. DiT-XL/2 = depth 28, width 1152, 16 heads, patch 2 (675M). SiT (Ma et al.
2024) uses the same network to predict velocity (fed the raw t in [0, 1]; DiT gets the integer step)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.priors.base import LatentPrior, register_kind
from models.priors.blocks import AdaLNBlock, class_labels, modulate
from models.priors.diffusion import Diffusion
from models.priors.flow import Flow


@dataclass(frozen=True)
class DiTConfig:
    in_channels: int = 8
    input_size: int = 16
    patch_size: int = 2
    hidden: int = 1152
    depth: int = 28
    heads: int = 16
    mlp_ratio: float = 4.0
    n_classes: int = 1000
    class_dropout: float = 0.1
    learn_sigma: bool = True  # DiT: a variance head (2C outputs), the learned-range variance of diffusion.py
    gelu: str = "tanh"  # DiT / SiT models.py: approx_gelu = nn.GELU(approximate="tanh")


def timestep_embedding(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


def sincos_2d(dim: int, side: int) -> torch.Tensor:
    """(side*side, dim) fixed 2-D sin-cos position embedding (MAE / DiT / SiT models.py get_2d_sincos_pos_embed):
    token r*side + c gets [emb(c), emb(r)], the column's encoding first (np.meshgrid(grid_w, grid_h), "here w goes
    first"), which official checkpoints were trained with."""
    def one_d(d: int, pos: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], 1)

    rows, cols = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32), indexing="ij")
    return torch.from_numpy(np.concatenate([one_d(dim // 2, cols), one_d(dim // 2, rows)], 1)).float()


class DiT(nn.Module):
    """forward(x (B, C, H, W), t (B,), y (B,)) -> (B, C or 2C, H, W)."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.out_channels = cfg.in_channels * (2 if cfg.learn_sigma else 1)
        p, d = cfg.patch_size, cfg.hidden
        self.x_embed = nn.Conv2d(cfg.in_channels, d, p, stride=p)
        self.t_embed = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.y_embed = nn.Embedding(cfg.n_classes + 1, d)  # last row: the null class for guidance
        self.register_buffer("pos", sincos_2d(d, cfg.input_size // p)[None], persistent=False)
        self.blocks = nn.ModuleList(AdaLNBlock(d, cfg.heads, cfg.mlp_ratio, cfg.gelu) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.final = nn.Linear(d, p * p * self.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT models.py initialize_weights: xavier-uniform linears (zero bias), the patch embedding like a linear,
        class table N(0, 0.02), timestep MLP weights N(0, 0.02), adaLN modulation and the final layer zero."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        w = self.x_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embed.bias)
        nn.init.normal_(self.y_embed.weight, std=0.02)
        nn.init.normal_(self.t_embed[0].weight, std=0.02)
        nn.init.normal_(self.t_embed[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.ada[1].weight)
            nn.init.zeros_(block.ada[1].bias)
        for m in (self.final_ada[1], self.final):  # adaLN-Zero: the output starts at zero
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        p = self.cfg.patch_size
        tokens = self.x_embed(x).flatten(2).transpose(1, 2) + self.pos
        y = class_labels(y, self.cfg.n_classes, self.cfg.class_dropout, self.training, b, x.device)
        c = self.t_embed(timestep_embedding(t)) + self.y_embed(y)
        for block in self.blocks:
            tokens = block(tokens, c)
        shift, scale = self.final_ada(c).chunk(2, dim=1)
        out = self.final(modulate(self.final_norm(tokens), shift, scale))
        out = out.view(b, h // p, w // p, p, p, self.out_channels).permute(0, 5, 1, 3, 2, 4)
        return out.reshape(b, self.out_channels, h, w)


class _DiTLatent(LatentPrior):
    """The DiT network on a latent grid: bound to the tokenizer's latent side too (input_size)."""

    config, network = DiTConfig, DiT

    def bind_model(self, codebook_size: int, latent_shape: tuple[int, int, int], latent_dim: int,
                   n_classes: int) -> Any:
        return dataclasses.replace(super().bind_model(codebook_size, latent_shape, latent_dim, n_classes),
                                   input_size=latent_shape[0])


@register_kind("dit")
class DiTPrior(_DiTLatent):
    """DiT (Peebles & Xie 2023): Gaussian diffusion around the DiT network."""

    decoding, perf_entry = "diffusion", "dit_xl2"
    tf32 = (True, "DiT train.py: allow_tf32 = True (matmul and cuDNN)")
    sample_file = ("jpeg", 75, "rounded (save_image)")  # dit-lc/evaluation.py: save_image to .jpg

    def make_process(self) -> Diffusion:
        return Diffusion(self.entry.process)


@register_kind("sit")
class SiTPrior(_DiTLatent):
    """SiT (Ma et al. 2024): the DiT network predicting the velocity of the linear interpolant."""

    decoding, perf_entry = "flow", "sit_xl2"
    tf32 = (True, "SiT train.py: allow_tf32 = True (matmul and cuDNN)")
    sample_file = ("jpeg", 75, "rounded (save_image)")  # sit-lc/evaluation.py: save_image to .jpg

    def make_process(self) -> Flow:
        return Flow(self.entry.process)
