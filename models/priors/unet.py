"""LDM's class-conditional UNet (Rombach et al. 2022; CompVis latent-diffusion openaimodel.UNetModel with
use_spatial_transformer, as VQGAN-LC's ldm-lc configs instantiate it), written from the config's meaning:

- input conv, then per level `num_res_blocks` ResBlocks (GroupNorm32 / SiLU / 3x3 conv, timestep embedding
  added, zero-initialised second conv, 1x1 skip when the width changes) to model_channels * mult, each followed
  by a SpatialTransformer when the level's downsampling factor is in `attention_resolutions` (the config's note:
  the values are downsampling factors, not resolutions); a strided 3x3 conv between levels;
- middle: ResBlock, SpatialTransformer, ResBlock;
- output path: num_res_blocks + 1 ResBlocks per level on the concatenated skips, transformers as on the way down,
  nearest upsample + 3x3 conv at the end of every level but the first; GroupNorm, SiLU, zero 3x3 conv out.
- SpatialTransformer: GroupNorm (eps 1e-6), 1x1 proj in, BasicTransformerBlock (self-attention, cross-attention
  to the class embedding, GEGLU feed-forward x4, pre-LN), zero-initialised 1x1 proj out; heads = ch // 32
  (num_head_channels 32, legacy head width ch // heads); attention q/k/v without bias.
- Class conditioning: ClassEmbedder, an nn.Embedding(n_classes + 1, 512) (the config's n_classes 1001: the
  last row is the unconditional class run_evaluations.py passes for guidance); its parameters count with the
  model (cond_stage_trainable).
imagenet-f16-vqgan-lc-100K.yaml (model_channels 256, channel_mult [1, 4], num_res_blocks 3, attention at
factors [4, 1], in/out 8 channels, context 512) counts 270.3M.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.priors.base import LatentPrior, register_kind
from models.priors.blocks import class_labels
from models.priors.diffusion import Diffusion
from models.priors.dit import timestep_embedding


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 8
    model_channels: int = 256
    channel_mult: tuple[int, ...] = (1, 4)
    num_res_blocks: int = 3
    attention_resolutions: tuple[int, ...] = (4, 1)  # downsampling factors with a SpatialTransformer
    num_head_channels: int = 32
    transformer_depth: int = 1
    context_dim: int = 512
    n_classes: int = 1000
    class_dropout: float = 0.0  # the ldm-lc trainer never drops labels


def gn(ch: int, eps: float = 1e-5) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, ch), ch, eps=eps)


def _zero(m: nn.Module) -> nn.Module:
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int) -> None:
        super().__init__()
        self.n1, self.c1 = gn(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(temb, cout)
        self.n2, self.c2 = gn(cout), _zero(nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x))) + self.t(F.silu(temb))[:, :, None, None]
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class Attn(nn.Module):
    """LDM CrossAttention: q/k/v without bias, output projection with bias."""

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int | None = None) -> None:
        super().__init__()
        inner, ctx = heads * dim_head, context_dim or dim
        self.heads = heads
        self.q = nn.Linear(dim, inner, bias=False)
        self.k, self.v = nn.Linear(ctx, inner, bias=False), nn.Linear(ctx, inner, bias=False)
        self.out = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        ctx = x if context is None else context
        b, n, _ = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, t.shape[1], self.heads, -1).transpose(1, 2)

        y = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(ctx)), split(self.v(ctx)))
        return self.out(y.transpose(1, 2).reshape(b, n, -1))


class GEGLUFeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, 2 * mult * dim)
        self.out = nn.Linear(mult * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.proj(x).chunk(2, dim=-1)
        return self.out(h * F.gelu(gate))


class SpatialTransformer(nn.Module):
    def __init__(self, ch: int, heads: int, dim_head: int, depth: int, context_dim: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.norm = gn(ch, eps=1e-6)
        self.proj_in = nn.Conv2d(ch, inner, 1)
        self.blocks = nn.ModuleList(nn.ModuleDict({
            "ln1": nn.LayerNorm(inner), "attn1": Attn(inner, heads, dim_head),
            "ln2": nn.LayerNorm(inner), "attn2": Attn(inner, heads, dim_head, context_dim),
            "ln3": nn.LayerNorm(inner), "ff": GEGLUFeedForward(inner)}) for _ in range(depth))
        self.proj_out = _zero(nn.Conv2d(inner, ch, 1))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        t = self.proj_in(self.norm(x))
        inner = t.shape[1]
        t = t.flatten(2).transpose(1, 2)
        for blk in self.blocks:
            t = t + blk["attn1"](blk["ln1"](t))
            t = t + blk["attn2"](blk["ln2"](t), context)
            t = t + blk["ff"](blk["ln3"](t))
        return x + self.proj_out(t.transpose(1, 2).reshape(b, inner, h, w))


class Downsample(nn.Conv2d):
    def __init__(self, ch: int) -> None:
        super().__init__(ch, ch, 3, stride=2, padding=1)


class Upsample(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    """forward(x (B, C, H, W), t (B,), y (B,)) -> eps (B, C, H, W)."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        mc, temb = cfg.model_channels, 4 * cfg.model_channels
        self.t_embed = nn.Sequential(nn.Linear(mc, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.y_embed = nn.Embedding(cfg.n_classes + 1, cfg.context_dim)  # ClassEmbedder, last row = null class

        def transformer(ch: int) -> SpatialTransformer:
            heads = ch // cfg.num_head_channels
            return SpatialTransformer(ch, heads, ch // heads, cfg.transformer_depth, cfg.context_dim)

        self.down = nn.ModuleList([nn.ModuleList([nn.Conv2d(cfg.in_channels, mc, 3, padding=1)])])
        skips, ch, ds = [mc], mc, 1
        for lvl, m in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layer = nn.ModuleList([ResBlock(ch, mc * m, temb)])
                ch = mc * m
                if ds in cfg.attention_resolutions:
                    layer.append(transformer(ch))
                self.down.append(layer)
                skips.append(ch)
            if lvl < len(cfg.channel_mult) - 1:
                self.down.append(nn.ModuleList([Downsample(ch)]))
                skips.append(ch)
                ds *= 2
        self.mid = nn.ModuleList([ResBlock(ch, ch, temb), transformer(ch), ResBlock(ch, ch, temb)])
        self.up = nn.ModuleList()
        for lvl, m in reversed(list(enumerate(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks + 1):
                layer = nn.ModuleList([ResBlock(ch + skips.pop(), mc * m, temb)])
                ch = mc * m
                if ds in cfg.attention_resolutions:
                    layer.append(transformer(ch))
                if lvl > 0 and i == cfg.num_res_blocks:
                    layer.append(Upsample(ch))
                    ds //= 2
                self.up.append(layer)
        self.out = nn.Sequential(gn(ch), nn.SiLU(), _zero(nn.Conv2d(mc, cfg.in_channels, 3, padding=1)))

    @staticmethod
    def _run(layer: nn.ModuleList, h: torch.Tensor, temb: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        for mod in layer:
            if isinstance(mod, ResBlock):
                h = mod(h, temb)
            elif isinstance(mod, SpatialTransformer):
                h = mod(h, ctx)
            else:
                h = mod(h)
        return h

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y = class_labels(y, self.cfg.n_classes, self.cfg.class_dropout, self.training, y.shape[0], x.device)
        temb = self.t_embed(timestep_embedding(t, self.cfg.model_channels))
        ctx = self.y_embed(y)[:, None]
        h, hs = x, []
        for layer in self.down:
            h = self._run(layer, h, temb, ctx)
            hs.append(h)
        h = self._run(self.mid, h, temb, ctx)
        for layer in self.up:
            h = self._run(layer, torch.cat([h, hs.pop()], 1), temb, ctx)
        return self.out(h)


@register_kind("ldm")
class LDMPrior(LatentPrior):
    """LDM (Rombach et al. 2022; ldm-lc): DDPM/DDIM around the openaimodel UNet; convolutional, so
    train.channels_last applies."""

    config, network, decoding, perf_entry = UNetConfig, UNet, "diffusion", "ldm_cin"
    convolutional = True
    sample_file = ("jpeg", 95, "truncated (np.uint8)")  # ldm-lc/run_evaluations.py: cv2.imwrite, quality 95

    def make_process(self) -> Diffusion:
        return Diffusion(self.entry.process)
