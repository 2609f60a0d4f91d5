"""MoVQ tokenizer (Zheng et al. 2022): taming encoder, multichannel quantizer, SpatialNorm-modulated decoder.

The decoder's first feature F0 (MoVQ Eq. 4 and Fig. 6a) is one of: 'fourier' (the paper's best),
'sinusoid' (2-D positional embedding), 'constant' (learned, the size of the embedded map), or 'quantized'
(post_quant_conv(z_q), as ai-forever's MoVQGAN code feeds it). The quantised map z_q modulates the
decoder through SpatialNorm in the first three blocks (paper) or in every norm (code).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import torch
from annotated_types import Gt
from torch import nn

from models.quantizers import build_quantizer
from models.taming_modules import Decoder, Encoder
from models.tokenizer import token_grid
from models.vqgan import TamingArch, TamingTokenizer

F0_MODES = ("fourier", "sinusoid", "constant", "quantized")


@dataclass(frozen=True)
class MoVQConfig(TamingArch):
    """taming ddconfig fields plus MoVQ's: channels c, F0 mode, where SpatialNorm goes."""

    channels: int = 4
    f0: str = "fourier"
    spatial_norm: str = "first3"  # paper: first three decoder blocks; 'all': ai-forever MoVQGAN code
    # std of the random Fourier frequencies (unpublished; Tancik et al. default)
    fourier_scale: Annotated[float, Gt(0)] = 10.0

    @property
    def quantizer(self) -> str:
        """MoVQ always quantizes c channel chunks against one codebook (a property: not in the stage config)."""
        return "multichannel"


class InitialFeature(nn.Module):
    """F0 for the decoder: (B, z_channels, h, w) from the mode; 'quantized' uses post_quant_conv(z_q)."""

    def __init__(self, mode: str, channels: int, side: int, embed_dim: int, fourier_scale: float) -> None:
        super().__init__()
        if mode not in F0_MODES:
            raise ValueError(f"f0 must be one of {F0_MODES}, got '{mode}'")
        self.mode = mode
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij")
        coords = torch.stack([xs, ys], 0)  # (2, h, w)
        if mode == "quantized":
            self.post_quant_conv = nn.Conv2d(embed_dim, channels, 1)
        elif mode == "constant":
            self.const = nn.Parameter(torch.randn(channels, side, side))
        elif mode == "sinusoid":  # transformer-style frequencies, half the channels per axis
            n = channels // 4
            freq = torch.exp(-math.log(10000.0) * torch.arange(n) / max(n, 1))
            pos = (coords + 1) / 2 * side
            parts = [f(pos[a][None] * freq[:, None, None]) for a in (0, 1) for f in (torch.sin, torch.cos)]
            self.register_buffer("table", torch.cat(parts, 0)[:channels], persistent=False)
        else:  # fourier: fixed random Gaussian frequencies (Tancik et al. 2020)
            freqs = torch.randn(channels // 2, 2, generator=torch.Generator().manual_seed(0)) * fourier_scale
            proj = torch.einsum("fc,chw->fhw", freqs, coords) * math.pi
            self.register_buffer("table", torch.cat([torch.sin(proj), torch.cos(proj)], 0), persistent=False)

    def forward(self, z_q: torch.Tensor) -> torch.Tensor:
        if self.mode == "quantized":
            return self.post_quant_conv(z_q)
        base = self.const if self.mode == "constant" else self.table
        return base[None].expand(z_q.shape[0], -1, -1, -1)


class MoVQ(TamingTokenizer):
    """(b, 3, H, W) -> indices (b, H/f, W/f, c) -> (b, 3, H, W)."""

    def __init__(self, cfg: MoVQConfig) -> None:
        super().__init__()
        self.cfg = cfg
        side, _ = token_grid(cfg)
        self.encoder = Encoder(in_channels=3, **cfg.backbone())
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.embed_dim, 1)
        self.quantize = build_quantizer(cfg)
        self.f0 = InitialFeature(cfg.f0, cfg.z_channels, side, cfg.embed_dim, cfg.fourier_scale)
        self.decoder = Decoder(out_ch=3, zq_ch=cfg.embed_dim, spatial_norm=cfg.spatial_norm, **cfg.backbone())
        self.codebook_size = cfg.n_embed
        self.latent_shape = (*token_grid(cfg), self.quantize.code_channels)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Quantised map (b, embed_dim, h, w): F0 from it (or not), modulation by it."""
        return self.decoder(self.f0(z_q), z_q)
