"""VQGAN-family tokenizers (Esser et al. 2021, taming VQModel): encoder, quant_conv, quantizer, post_quant_conv,
decoder.

The quantizer is chosen by config (`quantizer`, a name in models.quantizers.QUANTIZERS): taming VQ, VQGAN-FC,
VQGAN-EMA, RQ-VAE's residual quantizer, VQGAN-LC's, or any newly registered one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from annotated_types import Ge, Gt, Lt

from models.quantizers import Quantizer, build_quantizer
from models.taming_modules import Decoder, Encoder
from models.tokenizer import EncodeOutput, Tokenizer, TokenizerOutput, token_grid


@dataclass(frozen=True)
class TamingArch:
    """Fields shared by taming-backbone tokenizers, named as in taming's ddconfig + VectorQuantizer2 arguments."""

    resolution: int = 256
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    z_channels: int = 256
    embed_dim: int = 256
    n_embed: int = 1024
    dropout: Annotated[float, Ge(0), Lt(1)] = 0.0
    beta: Annotated[float, Ge(0)] = 0.25
    beta_placement: str = "legacy"  # taming ships legacy=True; 'corrected' puts beta on commitment

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    @property
    def latent_dim(self) -> int:
        """Channels of the quantised latent (quant_conv output)."""
        return self.embed_dim

    def backbone(self) -> dict:
        """Keyword arguments shared by taming's Encoder and Decoder."""
        return dict(ch=self.ch, ch_mult=tuple(self.ch_mult), num_res_blocks=self.num_res_blocks,
                    attn_resolutions=tuple(self.attn_resolutions), resolution=self.resolution,
                    z_channels=self.z_channels, dropout=self.dropout)


@dataclass(frozen=True)
class VQGANConfig(TamingArch):
    """taming VQGAN plus the quantizer choice (VQGAN-FC, VQGAN-EMA, RQ-VAE)."""

    quantizer: str = "vq"  # a registered quantizer: vq (taming) | fc (factorized) | ema (EMA codebook) | rq | lc
    depth: int = 1  # rq: residual depth = code channels per position
    ema_decay: Annotated[float, Ge(0), Lt(1)] = 0.99
    ema_eps: Annotated[float, Gt(0)] = 1e-5
    restart_threshold: Annotated[float, Ge(0)] = 1.0  # rq: restart codes whose EMA count falls below this (0 disables)
    # whose quantizer code a vq/ema/fc baseline follows (models/quantizers/base.py QUANTIZER_SOURCES): taming's, or
    # VQGAN-LC's models_vq.py (its Tables 1-2 baselines; set by the vqganlc recipe and the VQGAN-EMA/FC entries)
    quantizer_source: Literal["taming", "vqganlc"] = "taming"


@dataclass(frozen=True)
class VQGANLCConfig(VQGANConfig):
    """VQGAN-LC (Zhu et al. 2024): the taming f16 backbone with a frozen, pre-built codebook and a projector."""

    quantizer: str = "lc"
    codebook_init: str = "kmeans"  # kmeans | random_selection | random (Table 6 strategies)
    feature_encoder: str = "clip_vit_l14"  # encoder whose patch features build the codebook (Table 6)
    projector: bool = True  # Table 9: a trained linear projector (with bias) maps the codebook to embed_dim
    codebook_trainable: bool = False  # Table 9: the codebook entries themselves are trained
    codebook_dataset: str | None = None  # Table 8: build the codebook on another dataset (None: the training one)
    codebook_max_features: int = 2_000_000  # k-means input cap (features from a seeded subset of images)
    kmeans_iters: int = 20
    # all: one K-means over all features (paper Sec. 3.2); per_class: n_embed / classes centres per class, over
    # each class's own features (code: codebook_generation/minibatch_kmeans_per_class.py)
    kmeans_scope: Literal["all", "per_class"] = "all"

    @property
    def latent_dim(self) -> int:
        """Without a projector, features are matched to the raw codebook, so the latent takes its dimension."""
        return self.embed_dim if self.projector else self.codebook_dim

    @property
    def codebook_dim(self) -> int:
        """Dimension D of the static codebook: the feature encoder's, or embed_dim for a random codebook."""
        if self.codebook_init == "random":
            return self.embed_dim
        from models.feature_encoders import FEATURE_ENCODERS
        return FEATURE_ENCODERS.get(self.feature_encoder).dim


class TamingTokenizer(Tokenizer):
    """encoder -> quant_conv -> quantize -> decode; subclasses build the modules and define decode()."""

    encoder: torch.nn.Module
    quant_conv: torch.nn.Module
    quantize: Quantizer
    decoder: torch.nn.Module

    def encode(self, x: torch.Tensor) -> EncodeOutput:
        z = self.quant_conv(self.encoder(x))
        q = self.quantize(z)
        return EncodeOutput(q.indices, z, q.z_q)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        return self.decode(self.quantize.lookup(indices))

    def forward(self, x: torch.Tensor) -> TokenizerOutput:
        z = self.quant_conv(self.encoder(x))
        q = self.quantize(z)
        return TokenizerOutput(self.decode(q.z_q), q.indices, q.loss, q.terms)

    def last_layer(self) -> torch.Tensor:
        return self.decoder.conv_out.weight


class VQGAN(TamingTokenizer):
    """taming VQModel without its loss: (b, 3, H, W) -> (b, H/f, W/f, c) indices -> (b, 3, H, W)."""

    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(in_channels=3, **cfg.backbone())
        self.decoder = Decoder(out_ch=3, **cfg.backbone())
        self.quantize = build_quantizer(cfg)
        self.quant_conv = torch.nn.Conv2d(cfg.z_channels, cfg.latent_dim, 1)
        self.post_quant_conv = torch.nn.Conv2d(cfg.latent_dim, cfg.z_channels, 1)
        self.codebook_size = cfg.n_embed
        self.latent_shape = (*token_grid(cfg), self.quantize.code_channels)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Quantised latents (b, embed_dim, h, w) -> images."""
        return self.decoder(self.post_quant_conv(z_q))
