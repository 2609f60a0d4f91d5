"""Operations on a tokenizer's token space used by the analyses: replacing every token by its M-th nearest code
(VQGAN-LC Fig. 5), in the flat codebook the tokenizer's quantizer itself searches (`Quantizer.search_space`)."""
from __future__ import annotations

import torch

from models.quantizers.search import mth_nearest_code
from models.tokenizer import Tokenizer


@torch.no_grad()
def replace_with_mth_nearest(model: Tokenizer, x: torch.Tensor, m: int) -> torch.Tensor:
    """Indices (B, h, w, c) where every token is its latent's M-th nearest code (m=1: the tokenizer's own)."""
    enc = model.encode(x)
    codebook, queries, c = model.quantize.search_space(enc.latents)
    idx = mth_nearest_code(queries, codebook.detach(), m)
    b, _, h, w = enc.latents.shape
    return idx.view(b, h, w, c)
