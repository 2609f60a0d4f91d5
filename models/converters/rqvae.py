"""RQ-VAE stage 1 (kakaobrain rqvae/models/rqvae: RQVAE with RQBottleneck): taming-style encoder/decoder names;
the shared codebook appears once per depth as quantizer.codebooks.<d>.{weight,embed_ema,cluster_size_ema},
and each weight carries one extra padding row (nn.Embedding(n_embed + 1, padding_idx=n_embed))."""
from __future__ import annotations

import torch
from torch import nn

from models.converters.base import CONVERTERS, CheckpointMismatchError


@CONVERTERS.register("rqvae")
def convert_rqvae(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Map the (shared) codebook 0 onto our EMA codebook, dropping the padding row; other keys keep their names."""
    out = {k: v for k, v in state.items() if not k.startswith(("quantizer.", "loss.", "discriminator."))}
    depths = sorted({int(k.split(".")[2]) for k in state if k.startswith("quantizer.codebooks.")})
    base = {n: state[f"quantizer.codebooks.0.{n}"] for n in ("weight", "embed_ema", "cluster_size_ema")
            if f"quantizer.codebooks.0.{n}" in state}
    for d in depths[1:]:  # vqbench implements the shared-codebook RQ-VAE the papers compare
        if not torch.equal(state[f"quantizer.codebooks.{d}.weight"], base["weight"]):
            raise CheckpointMismatchError(f"RQ-VAE codebook {d} differs from codebook 0: this checkpoint uses "
                                          "separate codebooks per depth, which vqbench's RQ-VAE does not model")
    if "weight" not in base:
        raise CheckpointMismatchError("RQ-VAE checkpoint has no quantizer.codebooks.0.weight")
    out["quantize.codebook.embed"] = base["weight"][:-1]  # drop the padding row
    if "embed_ema" in base:
        out["quantize.codebook.embed_avg"] = base["embed_ema"]
    if "cluster_size_ema" in base:
        out["quantize.codebook.cluster_size"] = base["cluster_size_ema"]
    return out
