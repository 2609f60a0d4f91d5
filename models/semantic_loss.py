"""SeQ-GAN's semantic-enhanced perceptual loss (Gu et al. 2024, Sec. 3.4, Eq. 3 and Table 6), and the choice of
training perceptual loss (LPIPS for taming-style tokenizers, or this one).

L_per = sum_l 1/(H_l W_l C_l) ||y_hat_l - y_l||^2 over VGG16 layers l; L_low uses relu{1_2,2_2,3_3,4_3,5_3},
L_sem uses relu5_3 and the logits (pre-softmax), and L^alpha = alpha * L_sem + (1 - alpha) * L_low.
Every layer set of Table 6 is a choice of `low_layers` / `sem_layers`.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.core.provenance import state_dict_hash
from models.perceptual_nets import build_vgg16, load_lpips

VGG_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29, "logit": None}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PERCEPTUAL_LOSSES = ("lpips", "semantic")


class SemanticPerceptualLoss(nn.Module):
    """alpha * L_sem + (1 - alpha) * L_low on a frozen torchvision VGG16; returns one value per image (B,)."""

    def __init__(self, vgg: nn.Module, alpha: float, sem_layers: tuple[str, ...], low_layers: tuple[str, ...]) -> None:
        super().__init__()
        unknown = sorted((set(sem_layers) | set(low_layers)) - set(VGG_LAYERS))
        if unknown:
            raise ValueError(f"unknown VGG layer(s) {unknown}; expected any of {list(VGG_LAYERS)}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"semantic ratio alpha must be in [0, 1], got {alpha}")
        self.vgg = vgg.eval().requires_grad_(False)
        self.alpha, self.sem_layers, self.low_layers = alpha, tuple(sem_layers), tuple(low_layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _features(self, x: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        """Activations of the wanted layers; stops early when the logits are not needed."""
        x = ((x + 1) / 2 - self.mean) / self.std
        by_index = {i: n for n, i in VGG_LAYERS.items() if i is not None and n in wanted}
        last = max(by_index) if by_index else -1
        out = {}
        run_all = "logit" in wanted
        for i, layer in enumerate(self.vgg.features):
            x = layer(x)
            if i in by_index:
                out[by_index[i]] = x
            if i >= last and not run_all:
                return out
        if run_all:
            out["logit"] = self.vgg.classifier(torch.flatten(self.vgg.avgpool(x), 1))
        return out

    def forward(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        weights = {}
        for name in self.sem_layers:
            weights[name] = weights.get(name, 0.0) + self.alpha
        for name in self.low_layers:
            weights[name] = weights.get(name, 0.0) + (1.0 - self.alpha)
        wanted = {n for n, w in weights.items() if w > 0}
        with torch.no_grad():
            target = self._features(x, wanted)
        pred = self._features(recon, wanted)
        loss = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for name in wanted:  # 1/(H W C) ||y_hat - y||^2 per image, i.e. a per-image mean of squares
            loss = loss + weights[name] * (pred[name] - target[name]).pow(2).flatten(1).mean(1)
        return loss


def build_perceptual(loss_cfg, spec) -> tuple[nn.Module, str]:
    """The training perceptual loss a LossConfig names, and its weights hash (the metric-network provenance)."""

    if loss_cfg.perceptual == "lpips":
        return load_lpips("vgg", spec)
    if loss_cfg.perceptual == "semantic":
        module = SemanticPerceptualLoss(build_vgg16(spec.mode, spec.seed, spec.weights_dir), loss_cfg.semantic_alpha,
                                        tuple(loss_cfg.sem_layers), tuple(loss_cfg.low_layers))
        return module, state_dict_hash(module.vgg)
    raise ValueError(f"loss.perceptual must be one of {PERCEPTUAL_LOSSES}, got '{loss_cfg.perceptual}'")
