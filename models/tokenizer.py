"""The tokenizer interface every variant implements.

Shapes (einops names): images x (b, 3, H, W) in [-1, 1]; indices (b, h, w, c) int64 with c code
channels per position (c = 1 for VQGAN, 4 for MoVQ); latents (b, d, h, w) before quantisation.
tokens_per_image = h * w * c.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import torch
from torch import nn

from models.quantizers.base import Quantizer, code_channels


def token_grid(cfg: Any) -> tuple[int, int]:
    """(h, w) of a config's token map: resolution // downsample per side (the one place it is computed)."""
    side = cfg.resolution // cfg.downsample
    return side, side


def latent_shape(cfg: Any) -> tuple[int, int, int]:
    """(h, w, c) of a config's token map; c comes from its quantizer (RQ depth, MoVQ channels, else 1)."""
    h, w = token_grid(cfg)
    return h, w, code_channels(cfg)


class EncodeOutput(NamedTuple):
    """indices (b, h, w, c); latents (b, d, h, w) pre-quantisation; quantized (b, d, h, w)."""

    indices: torch.Tensor
    latents: torch.Tensor
    quantized: torch.Tensor


class TokenizerOutput(NamedTuple):
    """recon (b, 3, H, W); indices (b, h, w, c); qloss scalar; terms: detached loss parts for logging."""

    recon: torch.Tensor
    indices: torch.Tensor
    qloss: torch.Tensor
    terms: dict[str, torch.Tensor]


class Tokenizer(nn.Module, ABC):
    """Image <-> discrete tokens. Subclasses set codebook_size, latent_shape (h, w, c) and their quantizer."""

    codebook_size: int
    latent_shape: tuple[int, int, int]
    quantize: Quantizer

    @property
    def tokens_per_image(self) -> int:
        """h * w * c tokens for one image at the configured resolution."""
        h, w, c = self.latent_shape
        return h * w * c

    @abstractmethod
    def encode(self, x: torch.Tensor) -> EncodeOutput:
        """Images (b, 3, H, W) -> indices (b, h, w, c), latents, quantized."""

    @abstractmethod
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices (b, h, w, c) -> images (b, 3, H, W)."""

    @abstractmethod
    def forward(self, x: torch.Tensor) -> TokenizerOutput:
        """Training forward: reconstruction plus the quantizer's loss terms."""

    @abstractmethod
    def last_layer(self) -> torch.Tensor:
        """Weight used for the adaptive GAN weight (taming: decoder.conv_out.weight)."""
