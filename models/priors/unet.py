"""LDM's class-conditional UNet (Rombach et al. 2022, CompVis latent-diffusion openaimodel.py, cin configs):
residual blocks with timestep embedding, and spatial transformers whose cross-attention reads the class
embedding as context (the 'cross-attention' conditioning VQGAN-LC describes)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.priors.blocks import class_labels
from models.priors.dit import timestep_embedding


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 8
    ch: int = 256
    ch_mult: tuple[int, ...] = (1, 4, 4, 1)  # VQGAN-LC A: four UNet levels of {256, 1024, 1024, 256} channels
    num_res_blocks: int = 2
    attn_levels: tuple[int, ...] = (1, 2, 3)
    heads: int = 8
    context_dim: int = 512
    n_classes: int = 1000
    class_dropout: float = 0.1


def gn(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, ch), ch)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int) -> None:
        super().__init__()
        self.n1, self.c1 = gn(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout)
        self.n2, self.c2 = gn(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x))) + self.t(F.silu(temb))[:, :, None, None]
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class CrossAttention(nn.Module):
    """Self-attention then cross-attention to the context, then an MLP (LDM's BasicTransformerBlock)."""

    def __init__(self, ch: int, heads: int, context_dim: int) -> None:
        super().__init__()
        self.norm = gn(ch)
        self.self_attn = nn.MultiheadAttention(ch, heads, batch_first=True)
        self.cross = nn.MultiheadAttention(ch, heads, kdim=context_dim, vdim=context_dim, batch_first=True)
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(ch), nn.LayerNorm(ch), nn.LayerNorm(ch)
        self.mlp = nn.Sequential(nn.Linear(ch, 4 * ch), nn.GELU(), nn.Linear(4 * ch, ch))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = self.norm(x).flatten(2).transpose(1, 2)
        q = self.ln1(t)
        t = t + self.self_attn(q, q, q, need_weights=False)[0]
        t = t + self.cross(self.ln2(t), context, context, need_weights=False)[0]
        t = t + self.mlp(self.ln3(t))
        return x + t.transpose(1, 2).reshape(b, c, h, w)


class UNet(nn.Module):
    """forward(x (B, C, H, W), t (B,), y (B,)) -> eps (B, C, H, W)."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        temb = 4 * cfg.ch
        self.t_embed = nn.Sequential(nn.Linear(cfg.ch, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.y_embed = nn.Embedding(cfg.n_classes + 1, cfg.context_dim)  # ClassEmbedder, last row = null class
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding=1)
        self.down, skips, cur = nn.ModuleList(), [cfg.ch], cfg.ch
        for lvl, m in enumerate(cfg.ch_mult):
            for _ in range(cfg.num_res_blocks):
                layer = nn.ModuleList([ResBlock(cur, cfg.ch * m, temb)])
                cur = cfg.ch * m
                if lvl in cfg.attn_levels:
                    layer.append(CrossAttention(cur, cfg.heads, cfg.context_dim))
                self.down.append(layer)
                skips.append(cur)
            if lvl < len(cfg.ch_mult) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(cur, cur, 3, stride=2, padding=1)]))
                skips.append(cur)
        self.mid = nn.ModuleList([ResBlock(cur, cur, temb), CrossAttention(cur, cfg.heads, cfg.context_dim),
                                  ResBlock(cur, cur, temb)])
        self.up = nn.ModuleList()
        for lvl, m in reversed(list(enumerate(cfg.ch_mult))):
            for i in range(cfg.num_res_blocks + 1):
                layer = nn.ModuleList([ResBlock(cur + skips.pop(), cfg.ch * m, temb)])
                cur = cfg.ch * m
                if lvl in cfg.attn_levels:
                    layer.append(CrossAttention(cur, cfg.heads, cfg.context_dim))
                if lvl > 0 and i == cfg.num_res_blocks:
                    layer.append(nn.Upsample(scale_factor=2.0, mode="nearest"))
                    layer.append(nn.Conv2d(cur, cur, 3, padding=1))
                self.up.append(layer)
        self.out = nn.Sequential(gn(cur), nn.SiLU(), nn.Conv2d(cur, cfg.in_channels, 3, padding=1))

    def _run(self, layer: nn.ModuleList, h: torch.Tensor, temb: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        for mod in layer:
            if isinstance(mod, ResBlock):
                h = mod(h, temb)
            elif isinstance(mod, CrossAttention):
                h = mod(h, ctx)
            else:
                h = mod(h)
        return h

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y = class_labels(y, self.cfg.n_classes, self.cfg.class_dropout, self.training, y.shape[0], x.device)
        temb = self.t_embed(timestep_embedding(t, self.cfg.ch))
        ctx = self.y_embed(y)[:, None]
        h = self.conv_in(x)
        hs = [h]
        for layer in self.down:
            h = self._run(layer, h, temb, ctx)
            hs.append(h)
        h = self._run(self.mid, h, temb, ctx)
        for layer in self.up:
            h = self._run(layer, torch.cat([h, hs.pop()], 1), temb, ctx)
        return self.out(h)
