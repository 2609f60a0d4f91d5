"""Encoder/decoder of taming-transformers VQGAN (Esser et al. 2021; taming/modules/diffusionmodules/model.py).

Shapes: images (B, 3, H, W) in [-1, 1]; the encoder maps them to (B, z_channels, H/f, W/f) with
f = 2 ** (len(ch_mult) - 1); the decoder maps (B, z_channels, h, w) back to (B, out_ch, H, W).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GroupNorm(nn.GroupNorm):
    """taming's Normalize: GroupNorm(32, eps 1e-6); takes (and ignores) the modulation input zq."""

    def __init__(self, channels: int) -> None:
        super().__init__(num_groups=32, num_channels=channels, eps=1e-6, affine=True)

    def forward(self, x: torch.Tensor, zq: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


class SpatialNorm(nn.Module):
    """MoVQ Eq. 4: GroupNorm(F) * conv_y(zq) + conv_b(zq), zq nearest-resized to F (ai-forever MoVQGAN naming)."""

    def __init__(self, channels: int, zq_channels: int) -> None:
        super().__init__()
        self.norm_layer = nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)
        self.conv_y = nn.Conv2d(zq_channels, channels, 1)
        self.conv_b = nn.Conv2d(zq_channels, channels, 1)

    def forward(self, x: torch.Tensor, zq: torch.Tensor | None = None) -> torch.Tensor:
        zq = F.interpolate(zq, size=x.shape[-2:], mode="nearest")
        return self.norm_layer(x) * self.conv_y(zq) + self.conv_b(zq)


def make_norm(channels: int, zq_channels: int | None = None) -> nn.Module:
    """SpatialNorm where a decoder block is modulated (zq_channels given), else taming's GroupNorm."""
    return SpatialNorm(channels, zq_channels) if zq_channels else GroupNorm(channels)


def normalize(channels: int) -> nn.GroupNorm:
    """GroupNorm(32) with eps 1e-6, as taming uses everywhere."""
    return GroupNorm(channels)


class ResnetBlock(nn.Module):
    """Pre-activation residual block (no timestep embedding in VQGAN); zq_ch makes its norms SpatialNorm."""

    def __init__(self, in_ch: int, out_ch: int, dropout: float = 0.0, zq_ch: int | None = None) -> None:
        super().__init__()
        self.norm1 = make_norm(in_ch, zq_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.norm2 = make_norm(out_ch, zq_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, zq: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x, zq)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h, zq))))
        return self.nin_shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1 q/k/v/proj convolutions."""

    def __init__(self, ch: int, zq_ch: int | None = None) -> None:
        super().__init__()
        self.norm = make_norm(ch, zq_ch)
        self.q, self.k, self.v = (nn.Conv2d(ch, ch, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor, zq: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x, zq)
        q, k, v = (m(y).reshape(b, c, h * w).transpose(1, 2) for m in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return x + self.proj_out(out.transpose(1, 2).reshape(b, c, h, w))


class Downsample(nn.Module):
    """Stride-2 3x3 conv with taming's asymmetric (0,1,0,1) padding."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest x2 upsampling followed by a 3x3 conv."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _run_level(level: nn.Module, h: torch.Tensor, zq: torch.Tensor | None = None) -> torch.Tensor:
    """One resolution level: each ResnetBlock, followed by its AttnBlock where the level has attention."""
    for i, block in enumerate(level.block):
        h = block(h, zq)
        if len(level.attn) > 0:
            h = level.attn[i](h, zq)
    return h


class Encoder(nn.Module):
    """taming Encoder (double_z=False): (B, in_ch, H, W) -> (B, z_channels, H/f, W/f)."""

    def __init__(self, *, ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, attn_resolutions: tuple[int, ...],
                 in_channels: int, resolution: int, z_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        in_mult = (1, *ch_mult)
        res = resolution
        self.down = nn.ModuleList()
        for i, mult in enumerate(ch_mult):
            level = nn.Module()
            block_in, block_out = ch * in_mult[i], ch * mult
            blocks, attns = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(block_in, block_out, dropout))
                block_in = block_out
                if res in attn_resolutions:
                    attns.append(AttnBlock(block_in))
            level.block, level.attn = blocks, attns
            if i != len(ch_mult) - 1:
                level.downsample = Downsample(block_in)
                res //= 2
            self.down.append(level)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, dropout)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in, dropout)
        self.norm_out = normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, z_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = _run_level(level, h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


SPATIAL_NORM = ("none", "first3", "all")


class Decoder(nn.Module):
    """taming Decoder: (B, z_channels, h, w) -> (B, out_ch, h*f, w*f); conv_out gets the adaptive GAN weight.

    With zq_ch, norms become MoVQ SpatialNorms modulated by the quantised map: spatial_norm='first3' puts
    them in the first three decoder blocks (mid block_1, attn_1, block_2; MoVQ paper Sec. 4), 'all' in every
    decoder norm (ai-forever MoVQGAN code).
    """

    def __init__(self, *, ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, attn_resolutions: tuple[int, ...],
                 out_ch: int, resolution: int, z_channels: int, dropout: float = 0.0, zq_ch: int | None = None,
                 spatial_norm: str = "none") -> None:
        super().__init__()
        if spatial_norm not in SPATIAL_NORM:
            raise ValueError(f"spatial_norm must be one of {SPATIAL_NORM}, got '{spatial_norm}'")
        mid_zq = zq_ch if spatial_norm in ("first3", "all") else None
        up_zq = zq_ch if spatial_norm == "all" else None
        block_in = ch * ch_mult[-1]
        res = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, dropout, mid_zq)
        self.mid.attn_1 = AttnBlock(block_in, mid_zq)
        self.mid.block_2 = ResnetBlock(block_in, block_in, dropout, mid_zq)
        up = []
        for i in reversed(range(len(ch_mult))):
            level = nn.Module()
            block_out = ch * ch_mult[i]
            blocks, attns = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, block_out, dropout, up_zq))
                block_in = block_out
                if res in attn_resolutions:
                    attns.append(AttnBlock(block_in, up_zq))
            level.block, level.attn = blocks, attns
            if i != 0:
                level.upsample = Upsample(block_in)
                res *= 2
            up.insert(0, level)  # keep taming's index order so converted state dicts line up
        self.up = nn.ModuleList(up)
        self.norm_out = make_norm(block_in, up_zq)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, 1, 1)

    def forward(self, z: torch.Tensor, zq: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h, zq), zq), zq)
        for level in reversed(self.up):
            h = _run_level(level, h, zq)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h, zq)))
