"""Classification on token maps (VQGAN-LC Fig. 1b): timm's ViT-B with its patch embedding replaced by an
embedding of the token map, fine-tuned with MAE's recipe (He et al. 2022, FINETUNE.md: AdamW, blr 5e-4 x batch/256,
layer decay 0.65, weight decay 0.05, drop path 0.1, label smoothing 0.1, 5 warm-up epochs then cosine).

The token embedding lives in timm's `patch_embed` slot, so timm's layer-decay grouping keeps it in layer 0 with
the class token and position embedding, as MAE's param_groups_lrd does for the patch embedding.

MAE's fine-tuning augmentations (FINETUNE.md `--mixup 0.8 --cutmix 1.0 --reprob 0.25`, main_finetune.py: timm
`Mixup(prob=1, switch_prob=0.5, mode='batch', label_smoothing=0.1)` + SoftTargetCrossEntropy; util/datasets.py:
timm `create_transform(..., auto_augment='rand-m9-mstd0.5-inc1', re_prob=0.25, re_mode='pixel')`) act on images.
On cached token maps (models/recipes.py DEVIATIONS `classifier augmentation`): RandomErasing (per sample, first)
and Mixup/CutMix (per batch, then) run, by timm's own classes, on the token embedding grid (B, D, h, w), where
CutMix pastes whole tokens and Mixup blends embeddings; RandAugment, RandomResizedCrop and the flip would need the
images re-encoded every epoch and are not applied.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.core.registry import Registry


@dataclass(frozen=True)
class ClassifierConfig:
    embed_dim: int = 768
    depth: int = 12
    heads: int = 12
    drop_path: float = 0.1
    epochs: float = 100.0
    batch_size: int = 1024
    blr: float = 5e-4
    layer_decay: float = 0.65
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    warmup_epochs: float = 5.0
    init: str = "mae_pretrain_vit_base.pth"  # MAE ViT-B weights (paper); 'random' at smoke scale
    # MAE FINETUNE.md ViT-B: --mixup 0.8 --cutmix 1.0 --reprob 0.25 (main_finetune.py defaults: mixup_prob 1.0,
    # mixup_switch_prob 0.5, mixup_mode batch, remode pixel, recount 1); 0 turns each off (smoke scale)
    mixup: float = 0.8
    cutmix: float = 1.0
    reprob: float = 0.25

    def augments(self) -> str:
        """The record's description of the training augmentations on the token maps."""
        if not (self.mixup or self.cutmix or self.reprob):
            return "none"
        return (f"token-embedding grid: RandomErasing p={self.reprob} (pixel mode), Mixup alpha={self.mixup} / "
                f"CutMix alpha={self.cutmix} (switch 0.5, batch mode, soft targets); no RandAugment / crop / flip")


CLASSIFIERS: Registry[dict[str, ClassifierConfig]] = Registry("classifier")
CLASSIFIERS.add("vit_b_tokens", {"paper": ClassifierConfig(),
                                 "smoke": ClassifierConfig(embed_dim=64, depth=2, heads=2, epochs=3, batch_size=64,
                                                           blr=1e-3, warmup_epochs=0.5, init="random", mixup=0.0,
                                                           cutmix=0.0, reprob=0.0)})


class TokenEmbed(nn.Module):
    """(B, h, w, c) indices -> (B, h*w, D): the concatenation of c chunk embeddings per position."""

    def __init__(self, vocab: int, dim: int, channels: int) -> None:
        super().__init__()
        if dim % channels:
            raise ValueError(f"embed_dim {dim} must divide into {channels} chunk embeddings")
        self.embed = nn.Embedding(vocab, dim // channels)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if idx.is_floating_point():  # an already embedded (augmented) (B, h*w, D) sequence: see augment_tokens
            return idx
        b, h, w, c = idx.shape
        return self.embed(idx).reshape(b, h * w, -1)


class TokenAugment:
    """MAE's fine-tuning augmentations on a batch of token maps, by timm's own RandomErasing and Mixup, applied to
    the (B, D, h, w) grid of token embeddings; returns the (B, h*w, D) sequence and soft targets."""

    def __init__(self, cfg: ClassifierConfig, n_classes: int, device: torch.device) -> None:
        from timm.data import Mixup
        from timm.data.random_erasing import RandomErasing

        self.erase = RandomErasing(cfg.reprob, mode="pixel", max_count=1, device=str(device)) if cfg.reprob else None
        self.mixup = Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix, prob=1.0, switch_prob=0.5, mode="batch",
                           label_smoothing=cfg.label_smoothing, num_classes=n_classes) \
            if (cfg.mixup or cfg.cutmix) else None
        self.n_classes, self.smoothing = n_classes, cfg.label_smoothing

    def __call__(self, embed: nn.Module, idx: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from timm.data.mixup import mixup_target

        b, h, w, _ = idx.shape
        seq = embed(idx)
        grid = seq.transpose(1, 2).reshape(b, -1, h, w).clone()  # (B, D, h, w): an image-like tensor for timm
        if self.erase is not None:  # per sample, in the data pipeline, before the batch's Mixup (as in MAE)
            grid = self.erase(grid)
        if self.mixup is not None:
            grid, target = self.mixup(grid, y)
        else:
            target = mixup_target(y, self.n_classes, 1.0, self.smoothing)
        return grid.flatten(2).transpose(1, 2), target


def build_classifier(cfg: ClassifierConfig, vocab: int, latent_shape: tuple[int, int, int], n_classes: int,
                     weights_dir: str | None = None) -> nn.Module:
    """timm VisionTransformer whose patch_embed reads token maps; MAE weights loaded for the blocks if asked."""
    from timm.models.vision_transformer import VisionTransformer

    h, w, c = latent_shape
    vit = VisionTransformer(img_size=(h * 16, w * 16), patch_size=16, embed_dim=cfg.embed_dim, depth=cfg.depth,
                            num_heads=cfg.heads, num_classes=n_classes, drop_path_rate=cfg.drop_path,
                            global_pool="avg", fc_norm=True)  # MAE fine-tuning: average pooling + fc_norm
    vit.patch_embed = TokenEmbed(vocab, cfg.embed_dim, c)
    if cfg.init != "random":
        from pathlib import Path

        path = Path(weights_dir or ".") / cfg.init
        if not path.is_file():
            raise FileNotFoundError(f"MAE ViT-B weights '{cfg.init}' not found at {path}: put the file from "
                                    "facebookresearch/mae (mae_pretrain_vit_base.pth) in scale.metrics.weights_dir, "
                                    "or set the classifier's init=random")
        from models.converters.base import load_checkpoint_file

        state = load_checkpoint_file(path)  # a downloaded file: weights_only, argparse args allow-listed
        state = {k: v for k, v in state.get("model", state).items() if not k.startswith(("patch_embed", "head"))}
        state.pop("pos_embed", None)  # the token grid differs from 14 x 14 image patches
        vit.load_state_dict(state, strict=False)
    return vit


def train_and_evaluate(cfg: ClassifierConfig, model: nn.Module, train_idx: torch.Tensor, train_y: torch.Tensor,
                       val_idx: torch.Tensor, val_y: torch.Tensor, seed: int, device: torch.device) -> dict[str, Any]:
    """MAE fine-tuning schedule on cached token maps; top-1 accuracy (%) on the val token maps."""
    from timm.optim import param_groups_layer_decay

    torch.manual_seed(seed)
    model.to(device).train()
    groups = param_groups_layer_decay(model, weight_decay=cfg.weight_decay, layer_decay=cfg.layer_decay,
                                      no_weight_decay_list=model.no_weight_decay())
    lr = cfg.blr * cfg.batch_size / 256
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999))
    n = len(train_idx)
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = max(1, int(cfg.epochs * steps_per_epoch))
    warm = int(cfg.warmup_epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(seed)
    aug = TokenAugment(cfg, model.num_classes, device) if cfg.augments() != "none" else None
    if aug is not None and aug.mixup is not None and n < 2:
        raise ValueError("Mixup/CutMix need at least 2 training token maps; set the classifier's mixup=cutmix=0")
    if aug is not None:  # timm's Mixup draws from numpy, RandomErasing from `random` (MAE seeds both)
        random.seed(seed)
        np.random.seed(seed)
    t0, step = time.time(), 0
    while step < total:
        for batch in torch.randperm(n, generator=gen).split(cfg.batch_size):
            if step >= total:
                break
            if aug is not None and aug.mixup is not None and len(batch) % 2:
                batch = batch[:-1]  # timm's batch Mixup needs an even batch (MAE's loader drops the last)
                if not len(batch):
                    continue
            f = (step / max(1, warm) if step < warm
                 else 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))
            for g in opt.param_groups:
                g["lr"] = lr * f * g.get("lr_scale", 1.0)
            if aug is None:
                logits = model(train_idx[batch].to(device))
                loss = F.cross_entropy(logits, train_y[batch].to(device), label_smoothing=cfg.label_smoothing)
            else:  # soft targets (smoothing folded in), SoftTargetCrossEntropy as main_finetune.py
                seq, target = aug(model.patch_embed, train_idx[batch].to(device), train_y[batch].to(device))
                loss = torch.sum(-target * F.log_softmax(model(seq), dim=-1), dim=-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in torch.arange(len(val_idx)).split(256):
            correct += int((model(val_idx[batch].to(device)).argmax(1).cpu() == val_y[batch]).sum())
    return {"top1": 100.0 * correct / max(1, len(val_idx)), "steps": total, "lr": lr,
            "train_seconds": round(time.time() - t0, 2), "final_loss": round(loss.item(), 4)}
