"""SeQ-GAN tokenizer (Gu et al. 2024): MaskGIT's VQGAN backbone, entropy-regularised codebook, optionally
enhanced decoder (Table 1), trained in two phases (Sec. 3.4, Fig. 7): phase 1 with L^{alpha=1}_per, phase 2
freezing encoder and codebook and finetuning the enhanced decoder with L^{alpha=0}_per.

Codebook regularisers (Table 5): 'entropy' (gamma H(D_bar), the paper's), 'kmeans' (first-batch k-means init),
'fn' (factorized + l2-normalised codes as ViT-VQGAN; set embed_dim=32, n_embed=8192 for the table's row),
'none' (plain VQGAN quantizer).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import torch
from annotated_types import Ge, Gt

from models.maskgit_modules import Decoder, Encoder
from models.quantizers import build_quantizer
from models.tokenizer import EncodeOutput, Tokenizer, TokenizerOutput, token_grid

CODEBOOK_REGS = ("entropy", "kmeans", "fn", "none")


@dataclass(frozen=True)
class SeQGANConfig:
    """MaskGIT vqvae fields (filters = ch) plus SeQ-GAN's decoder and codebook choices."""

    resolution: int = 256
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    embed_dim: int = 256
    n_embed: int = 1024
    beta: Annotated[float, Ge(0)] = 0.25
    codebook_reg: str = "entropy"
    entropy_gamma: Annotated[float, Ge(0)] = 0.01
    entropy_temperature: Annotated[float, Gt(0)] = 1.0
    decoder_extra: str = "none"  # none (baseline) | conv (+Conv x2) | attn (+Attention x2, regional/dilated)
    extra_blocks: int = 2
    attn_window: int = 8
    attn_mlp_ratio: Annotated[float, Ge(0)] = 0.0
    shortcut: str = "output"  # MaskGIT code: 1x1 shortcut on the block output (54.5M); 'input': textbook residual

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    @property
    def quantizer(self) -> str:
        """'fn' is the factorized quantizer; the other regularisers are options of the entropy quantizer."""
        return "fc" if self.codebook_reg == "fn" else "entropy_vq"


class SeQGAN(Tokenizer):
    """encoder -> quantizer -> decoder; (b, 3, H, W) -> (b, H/16, W/16, 1) indices."""

    def __init__(self, cfg: SeQGANConfig) -> None:
        super().__init__()
        if cfg.codebook_reg not in CODEBOOK_REGS:
            raise ValueError(f"codebook_reg must be one of {CODEBOOK_REGS}, got '{cfg.codebook_reg}'")
        self.cfg = cfg
        self.encoder = Encoder(cfg.ch, tuple(cfg.ch_mult), cfg.num_res_blocks, cfg.embed_dim, cfg.shortcut)
        self.decoder = Decoder(cfg.ch, tuple(cfg.ch_mult), cfg.num_res_blocks, cfg.embed_dim, cfg.decoder_extra,
                               cfg.extra_blocks, cfg.attn_window, cfg.attn_mlp_ratio, cfg.shortcut)
        self.quantize = build_quantizer(cfg)
        self.codebook_size = cfg.n_embed
        self.latent_shape = (*token_grid(cfg), self.quantize.code_channels)

    def encode(self, x: torch.Tensor) -> EncodeOutput:
        z = self.encoder(x)
        q = self.quantize(z)
        return EncodeOutput(q.indices, z, q.z_q)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.decoder(z_q)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        return self.decode(self.quantize.lookup(indices))

    def forward(self, x: torch.Tensor) -> TokenizerOutput:
        q = self.quantize(self.encoder(x))
        return TokenizerOutput(self.decode(q.z_q), q.indices, q.loss, q.terms)

    def last_layer(self) -> torch.Tensor:
        return self.decoder.conv_out.weight
