"""Operations on a tokenizer's token space used by the analyses: the flat codebook a quantizer searches, and
replacing every token by its M-th nearest code (VQGAN-LC Fig. 5)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from models.quantizers.ema import EMAVectorQuantizer
from models.quantizers.entropy_vq import EntropyVectorQuantizer
from models.quantizers.fc import FactorizedQuantizer
from models.quantizers.lc import LCQuantizer
from models.quantizers.multichannel import MultichannelQuantizer
from models.quantizers.search import mth_nearest_code
from models.quantizers.vq import VectorQuantizer
from models.tokenizer import Tokenizer


def search_space(quantizer: torch.nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(codebook (K, d'), queries (B*h*w*c, d'), c) exactly as the quantizer's own lookup sees them."""
    b, d, h, w = z.shape
    flat = lambda t: t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])  # noqa: E731
    if isinstance(quantizer, MultichannelQuantizer):
        c = quantizer.channels
        chunks = z.reshape(b, c, d // c, h, w).permute(0, 3, 4, 1, 2).reshape(-1, d // c)  # (b, h, w, c) order
        return quantizer.vq.embedding.weight, chunks, c
    if isinstance(quantizer, (VectorQuantizer, EntropyVectorQuantizer)):
        return quantizer.embedding.weight, flat(z), 1
    if isinstance(quantizer, FactorizedQuantizer):
        return quantizer.codes(), flat(F.normalize(z, dim=1)), 1
    if isinstance(quantizer, EMAVectorQuantizer):
        return quantizer.codebook.embed, flat(z), 1
    if isinstance(quantizer, LCQuantizer):
        return quantizer.codes(), flat(z if quantizer.projection is not None else F.normalize(z, dim=1)), 1
    raise ValueError(f"token replacement needs a single-stage quantizer; {type(quantizer).__name__} (e.g. RQ-VAE's "
                     "residual stack) has no single M-th nearest code per token")


@torch.no_grad()
def replace_with_mth_nearest(model: Tokenizer, x: torch.Tensor, m: int) -> torch.Tensor:
    """Indices (B, h, w, c) where every token is its latent's M-th nearest code (m=1: the tokenizer's own)."""
    enc = model.encode(x)
    codebook, queries, c = search_space(model.quantize, enc.latents)
    idx = mth_nearest_code(queries, codebook.detach(), m)
    b, _, h, w = enc.latents.shape
    return idx.view(b, h, w, c)
