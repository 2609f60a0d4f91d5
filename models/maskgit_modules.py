"""MaskGIT's VQGAN encoder/decoder (google-research/maskgit nets/vqgan_tokenizer.py), the SeQ-GAN baseline, plus
the decoder enhancements of SeQ-GAN Table 1: extra residual blocks ('+Conv x2') or interleaved regional (window)
and dilated (grid) attention blocks ('+Attention x2', HiT / Zhao et al. 2021) after each decoder level.

MaskGIT's backbone differs from taming's: no attention anywhere, bias-free 3x3 convs in residual blocks,
average-pool downsampling, num_res_blocks (not +1) blocks per decoder level, swish, GroupNorm(32).
When channels change, MaskGIT's code applies its 1x1 shortcut (out -> out channels) to the block *output*
instead of its input; `shortcut='output'` keeps that (and reaches SeQ-GAN's 54.5M exactly), `shortcut='input'`
is the textbook residual (54.4M).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DECODER_EXTRAS = ("none", "conv", "attn")


def norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, ch, eps=1e-6)


SHORTCUTS = ("output", "input")


class ResBlock(nn.Module):
    """GN-swish-conv3x3-GN-swish-conv3x3 (no bias) + 1x1 shortcut when channels change (see module docstring)."""

    def __init__(self, in_ch: int, out_ch: int, shortcut: str = "output") -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got '{shortcut}'")
        self.mode = shortcut
        self.norm0, self.conv0 = norm(in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.norm1, self.conv1 = norm(out_ch), nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.shortcut = None
        if in_ch != out_ch:
            self.shortcut = nn.Conv2d(out_ch if shortcut == "output" else in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv0(F.silu(self.norm0(x)))
        h = self.conv1(F.silu(self.norm1(h)))
        if self.shortcut is None:
            return h + x
        return h + self.shortcut(h if self.mode == "output" else x)


class AxisAttention(nn.Module):
    """Pre-norm multi-head self-attention within windows: 'regional' (P x P blocks) or 'dilated' (a P x P grid
    of tokens spaced H/P apart), optionally followed by an MLP; both residual."""

    def __init__(self, ch: int, mode: str, window: int = 8, heads: int = 8, mlp_ratio: float = 0.0) -> None:
        super().__init__()
        if mode not in ("regional", "dilated"):
            raise ValueError(f"attention mode must be 'regional' or 'dilated', got '{mode}'")
        self.mode, self.window, self.heads = mode, window, max(1, min(heads, ch // 32))
        self.norm = nn.LayerNorm(ch)
        self.qkv, self.proj = nn.Linear(ch, 3 * ch), nn.Linear(ch, ch)
        self.mlp = None
        if mlp_ratio > 0:
            hidden = int(ch * mlp_ratio)
            self.norm2 = nn.LayerNorm(ch)
            self.mlp = nn.Sequential(nn.Linear(ch, hidden), nn.GELU(), nn.Linear(hidden, ch))

    def _partition(self, x: torch.Tensor, p: int) -> torch.Tensor:
        """(B, H, W, C) -> (B * groups, p * p, C) windows (regional) or strided grids (dilated)."""
        b, h, w, c = x.shape
        if self.mode == "regional":
            x = x.view(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5)
        else:
            x = x.view(b, p, h // p, p, w // p, c).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(-1, p * p, c)

    def _merge(self, x: torch.Tensor, shape: tuple[int, int, int, int], p: int) -> torch.Tensor:
        b, h, w, c = shape
        if self.mode == "regional":
            return x.view(b, h // p, w // p, p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        return x.view(b, h // p, w // p, p, p, c).permute(0, 3, 1, 4, 2, 5).reshape(b, h, w, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = min(self.window, h, w)
        t = x.permute(0, 2, 3, 1)
        win = self._partition(self.norm(t), p)
        q, k, v = self.qkv(win).view(win.shape[0], win.shape[1], 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(win.shape)
        t = t + self._merge(self.proj(a), (b, h, w, c), p)
        if self.mlp is not None:
            t = t + self.mlp(self.norm2(t))
        return t.permute(0, 3, 1, 2)


class Encoder(nn.Module):
    """conv_in -> per level: num_res_blocks ResBlocks (+ 2x avg-pool) -> mid ResBlocks -> GN-swish-1x1 conv."""

    def __init__(self, ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, z_channels: int,
                 shortcut: str = "output") -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1, bias=False)
        blocks, prev = [], ch
        for i, m in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(prev, ch * m, shortcut))
                prev = ch * m
            if i < len(ch_mult) - 1:
                blocks.append(nn.AvgPool2d(2))
        blocks += [ResBlock(prev, prev) for _ in range(num_res_blocks)]
        self.blocks = nn.Sequential(*blocks)
        self.norm_out, self.conv_out = norm(prev), nn.Conv2d(prev, z_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(F.silu(self.norm_out(self.blocks(self.conv_in(x)))))


class Decoder(nn.Module):
    """conv_in -> mid ResBlocks -> per level (deepest first): ResBlocks, extras, (nearest 2x + conv) -> conv_out."""

    def __init__(self, ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, z_channels: int,
                 extra: str = "none", extra_blocks: int = 2, attn_window: int = 8, attn_mlp_ratio: float = 0.0,
                 shortcut: str = "output") -> None:
        super().__init__()
        if extra not in DECODER_EXTRAS:
            raise ValueError(f"decoder_extra must be one of {DECODER_EXTRAS}, got '{extra}'")
        prev = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, prev, 3, padding=1)
        self.mid = nn.Sequential(*[ResBlock(prev, prev) for _ in range(num_res_blocks)])
        self.levels = nn.ModuleList()
        for i in reversed(range(len(ch_mult))):
            cur = ch * ch_mult[i]
            level = nn.Module()
            res = []
            for _ in range(num_res_blocks):
                res.append(ResBlock(prev, cur, shortcut))
                prev = cur
            level.res = nn.Sequential(*res)
            if extra == "conv":
                level.extra = nn.Sequential(*[ResBlock(cur, cur) for _ in range(extra_blocks)])
            elif extra == "attn":  # interleaved: regional, dilated, regional, ...
                level.extra = nn.Sequential(*[AxisAttention(cur, "regional" if j % 2 == 0 else "dilated", attn_window,
                                                            mlp_ratio=attn_mlp_ratio) for j in range(extra_blocks)])
            else:
                level.extra = nn.Identity()
            level.up = nn.Conv2d(cur, cur, 3, padding=1) if i > 0 else None
            self.levels.append(level)
        self.norm_out, self.conv_out = norm(prev), nn.Conv2d(prev, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in self.levels:
            h = level.extra(level.res(h))
            if level.up is not None:
                h = level.up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))
