"""VQGAN-LC quantizer (Zhu et al. 2024, Sec. 3.2; zh460045050/VQGAN-LC models_vq.py): frozen codebook plus projector.

The codebook B (K x D, e.g. 100,000 x 768 CLIP ViT-L/14 patch-feature centroids) is a buffer and never
trained; a linear projector P (D -> D', with bias) maps the whole codebook to the latent space, and encoder
features (quant_conv output, D' = 8) are matched to P(B) by squared L2. Loss as in the released code:
||sg(z_q) - z||^2 + 0.33 * ||z_q - sg(z)||^2 (the second term only trains P); the trainer multiplies it by
rate_q (loss.codebook_weight = 0.1).

Table 9 variants: `trainable=True` makes B a parameter (VQGAN-LC "projector only"), `projector=False` matches
features to B directly (D' must equal D). The released code l2-normalises the features only when the latent is
768-d and the codebook is not a trainable random one (encode: `e_dim == 768 and tuning_codebook != -1`), i.e. for a
CLIP ViT-L/14 codebook without projector; `l2_features` follows that rule (`lc_l2_features`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.core.artifacts import load_artifact
from models.quantizers.base import Precompute, Quantizer, QuantOutput, flat, register_quantizer
from models.quantizers.search import nearest_code

CODEBOOK_INITS = ("kmeans", "random_selection", "random")  # VQGAN-LC Table 6 strategies
L2_DIM = 768  # models_vq.py VQModel.encode: the only latent width at which features are l2-normalised


def lc_l2_features(latent_dim: int, codebook_init: str, trainable: bool) -> bool:
    """models_vq.py encode: `e_dim == 768 and args.tuning_codebook != -1` (-1: trainable random codebook)."""
    return latent_dim == L2_DIM and not (codebook_init == "random" and trainable)


@register_quantizer("lc")
class LCQuantizer(Quantizer):
    """Nearest-code lookup in P(B) for a frozen (or trainable) codebook B; z: (B, D', h, w)."""

    def __init__(self, n_embed: int, codebook_dim: int, embed_dim: int, projector: bool = True,
                 trainable: bool = False, codebook_loss_weight: float = 0.33,
                 l2_features: bool | None = None) -> None:
        super().__init__()
        if not projector and codebook_dim != embed_dim:
            raise ValueError(f"without a projector the codebook dim ({codebook_dim}) must equal embed_dim "
                             f"({embed_dim})")
        self.n_embed, self.codebook_dim, self.embed_dim = n_embed, codebook_dim, embed_dim
        self.codebook_loss_weight = codebook_loss_weight
        # default: the released code's rule for a pre-built (non-random) codebook
        self.l2_features = embed_dim == L2_DIM if l2_features is None else l2_features
        init = torch.empty(n_embed, codebook_dim).uniform_(-1.0 / n_embed, 1.0 / n_embed)  # the code's random init
        if trainable:
            self.codebook = nn.Parameter(init)
        else:
            self.register_buffer("codebook", init)  # frozen: saved with the model, never in the optimiser
        self.projection = nn.Linear(codebook_dim, embed_dim) if projector else None
        if self.projection is not None:
            nn.init.normal_(self.projection.weight, std=embed_dim**-0.5)  # as the released code initialises it

    @classmethod
    def from_config(cls, cfg: Any) -> LCQuantizer:
        """From a VQGAN-LC entry's config (models.vqgan.VQGANLCConfig: codebook_dim, projector, ...)."""
        if not hasattr(cfg, "codebook_init"):
            raise ValueError("quantizer 'lc' needs a VQGAN-LC entry (e.g. tokenizer=vqganlc_f16_100k)")
        if cfg.codebook_init not in CODEBOOK_INITS:
            raise ValueError(f"codebook_init must be one of {CODEBOOK_INITS}, got '{cfg.codebook_init}'")
        return cls(cfg.n_embed, cfg.codebook_dim, cfg.latent_dim, cfg.projector, cfg.codebook_trainable,
                   l2_features=lc_l2_features(cfg.latent_dim, cfg.codebook_init, cfg.codebook_trainable))

    @classmethod
    def precompute(cls, cfg: Any) -> Precompute | None:
        """The build_codebook stage (Sec. 3.2: k-means on feature-encoder patch features); none for 'random'."""
        if cfg.codebook_init == "random":
            return None
        config = {"encoder": cfg.feature_encoder, "init": cfg.codebook_init, "n_embed": cfg.n_embed,
                  "dim": cfg.codebook_dim, "max_features": cfg.codebook_max_features, "kmeans_iters": cfg.kmeans_iters,
                  "kmeans_scope": cfg.kmeans_scope}
        return Precompute("build_codebook", "codebook", config, cfg.codebook_dataset, "model.codebook_dataset",
                          f"K={cfg.n_embed} {cfg.feature_encoder}", "encoder_weights")

    def load_precomputed(self, key: str, folder: Path) -> dict[str, Any]:
        """Install the build_codebook stage's codebook artifact (codebook.safetensors + .json)."""
        self.set_codebook(load_artifact(folder / "codebook.safetensors")["codebook"])
        return {"codebook_from": key}

    @torch.no_grad()
    def set_codebook(self, codebook: torch.Tensor) -> None:
        """Install a codebook built by the build_codebook stage (k-means centroids or selected features)."""
        if tuple(codebook.shape) != tuple(self.codebook.shape):
            raise ValueError(f"codebook shape {tuple(codebook.shape)} does not fit the model's "
                             f"{tuple(self.codebook.shape)} (n_embed x codebook_dim)")
        self.codebook.copy_(codebook.to(self.codebook.dtype))

    def codes(self) -> torch.Tensor:
        """The projected codebook P(B): (K, D')."""
        return self.projection(self.codebook) if self.projection is not None else self.codebook

    def forward(self, z: torch.Tensor) -> QuantOutput:
        b, d, h, w = z.shape
        if self.l2_features:
            z = F.normalize(z, dim=1)  # released code: 768-d features l2-normalised (raw CLIP codes)
        z_flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        codes = self.codes()
        idx = nearest_code(z_flat.detach(), codes.detach())
        z_q = F.embedding(idx, codes).view(b, h, w, d).permute(0, 3, 1, 2)  # differentiable w.r.t. P (and B)
        commit = F.mse_loss(z, z_q.detach())
        codebook = F.mse_loss(z_q, z.detach())
        z_q = z + (z_q - z).detach()
        return QuantOutput(z_q, idx.view(b, h, w, 1), commit + self.codebook_loss_weight * codebook,
                           {"commit": commit.detach(), "codebook": codebook.detach()})

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w, 1) indices -> (B, D', h, w) projected code vectors."""
        return F.embedding(indices[..., 0], self.codes()).permute(0, 3, 1, 2)


    def search_space(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.codes(), flat(F.normalize(z, dim=1) if self.l2_features else z), 1
