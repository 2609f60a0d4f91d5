"""The papers' analyses, each producing records (and image grids where the paper shows pictures):

- SeQ-GAN Sec. 3.2 / Fig. 4-6: ground-truth token context into a trained AR prior, top-1 prediction at every
  position in one forward pass, decoded next to the tokenizer's reconstruction.
- VQGAN-LC Fig. 5: every token replaced by its M-th nearest code, PSNR as a function of M.
- MoVQ App. A: mask ratios 100% .. 20%; top-1 completion in one step and random completion in 8 steps,
  scored with SSIM, PSNR and LPIPS against the deterministic reconstruction.
- VQGAN-LC Fig. 3: codebook utilisation over training epochs, from the tokenizer trainer's epoch log.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from models.token_ops import replace_with_mth_nearest
from models.tokenizer import Tokenizer
from tasks.metrics.image import PSNR, SSIM, to_uint8


def save_grid(rows: list[torch.Tensor], path: Path, max_cols: int = 8) -> None:
    """Images in [-1, 1], one list entry per row, as a PNG grid."""
    tiles = [to_uint8(r[:max_cols]).permute(0, 2, 3, 1).cpu().numpy() for r in rows]
    grid = np.concatenate([np.concatenate(list(t), axis=1) for t in tiles], axis=0)
    Image.fromarray(grid).save(path)


def _pair_scores(a: torch.Tensor, b: torch.Tensor, lpips: torch.nn.Module | None) -> dict[str, float]:
    """PSNR (RGB, uint8), SSIM and LPIPS between two image batches in [-1, 1]."""
    psnr, ssim = PSNR(), SSIM()
    ua, ub = to_uint8(a).cpu(), to_uint8(b).cpu()
    psnr.update(ua, ub)
    ssim.update(ua, ub)
    out = {"psnr_rgb": psnr.compute(), "ssim": ssim.compute()}
    if lpips is not None:
        with torch.no_grad():
            out["lpips_vgg"] = float(lpips(ua.float() / 127.5 - 1, ub.float() / 127.5 - 1).mean())
    return out


def category_draw(labels: list[int], n_categories: int, per_category: int | None, seed: int,
                  max_images: int | None = None) -> tuple[list[int], dict[str, Any]]:
    """VQGAN-LC Fig. 5: the images of `n_categories` seeded-random categories (every image of each, or a seeded
    `per_category` of each); `max_images` caps the total with a seeded draw (smoke). One-class sets (FFHQ): a
    seeded draw of max_images. Returns sorted indices and the draw's protocol facts."""
    g = torch.Generator().manual_seed(seed)
    classes = sorted(set(labels))
    chosen = classes if len(classes) <= n_categories else sorted(
        classes[i] for i in torch.randperm(len(classes), generator=g)[:n_categories].tolist())
    keep = set(chosen)
    by_class: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        if lab in keep:
            by_class.setdefault(lab, []).append(i)
    idx: list[int] = []
    for lab in chosen:
        members = by_class[lab]
        if per_category is not None and len(members) > per_category:
            members = [members[j] for j in torch.randperm(len(members), generator=g)[:per_category].tolist()]
        idx.extend(members)
    if max_images is not None and len(idx) > max_images:
        idx = [idx[j] for j in torch.randperm(len(idx), generator=g)[:max_images].tolist()]
    idx.sort()
    return idx, {"categories": len(chosen), "categories_of": len(classes), "category_seed": seed,
                 "images_per_category": per_category or "all", "image_count": len(idx)}


@torch.no_grad()
def token_replacement(tokenizer: Tokenizer, images, ms: list[int], device: torch.device | None = None
                      ) -> list[dict[str, Any]]:
    """PSNR (RGB and Y, the latter VQGAN-LC's) of decode(M-th nearest tokens) against the input images, for each
    M <= K; `images` is one tensor or an iterable of batches."""
    batches = [images] if isinstance(images, torch.Tensor) else images
    meters = {m: (PSNR(), PSNR("y")) for m in ms if m <= tokenizer.codebook_size}
    for x in batches:
        x = x.to(device) if device is not None else x
        ux = to_uint8(x).cpu()
        for m, (rgb, y) in meters.items():
            recon = to_uint8(tokenizer.decode_indices(replace_with_mth_nearest(tokenizer, x, m))).cpu()
            rgb.update(ux, recon)
            y.update(ux, recon)
    return [{"M": m, "psnr_rgb": rgb.compute(), "psnr_y": y.compute()} for m, (rgb, y) in meters.items()]


@torch.no_grad()
def ar_visualization(tokenizer: Tokenizer, gpt: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | None,
                     out_png: Path) -> dict[str, float]:
    """Teacher-forced top-1 prediction at every position (one forward pass), decoded beside the reconstruction."""
    idx = tokenizer.encode(images).indices
    b, h, w, c = idx.shape
    logits = gpt(idx.view(b, h * w, c), labels)[..., :gpt.cfg.vocab_size]  # codes only (VQGAN-LC: + classes)
    top1 = logits.argmax(-1).view(b, h, w, c)
    recon, pred = tokenizer.decode_indices(idx), tokenizer.decode_indices(top1)
    save_grid([images, recon, pred], out_png)
    return {"token_accuracy": float((top1 == idx).float().mean()), **{f"{k}_vs_recon": v for k, v in
                                                                       _pair_scores(recon, pred, None).items()}}


@torch.no_grad()
def masked_reconstruction(tokenizer: Tokenizer, maskgit: torch.nn.Module, images: torch.Tensor,
                          labels: torch.Tensor | None, ratios: list[float], lpips: torch.nn.Module | None,
                          seed: int, out_png: Path) -> list[dict[str, Any]]:
    """MoVQ App. A: mask a ratio of the tokens, complete them (top-1 in one step / sampled in 8 steps)."""
    idx = tokenizer.encode(images).indices
    b, h, w, c = idx.shape
    flat = idx.view(b, h * w, c)
    reference = tokenizer.decode_indices(idx)  # the deterministic reconstruction
    gen = torch.Generator().manual_seed(seed)
    rows, grid = [], [images, reference]
    for r in ratios:
        masked = torch.rand(flat.shape, generator=gen) < r
        init = flat.masked_fill(masked, maskgit.mask_id)
        for mode, steps in (("top1_1step", 1), ("random_8step", 8)):
            done, _ = maskgit.generate(b, labels, steps=steps, init=init, greedy=mode == "top1_1step",
                                       generator=torch.Generator().manual_seed(seed))
            recon = tokenizer.decode_indices(done.view(b, h, w, c))
            rows.append({"mask_ratio": r, "mode": mode, **_pair_scores(reference, recon, lpips)})
            if mode == "random_8step":
                grid.append(recon)
    save_grid(grid, out_png)
    return rows


def usage_over_epochs(train_log: Path) -> list[dict[str, Any]]:
    """The per-epoch codebook usage the tokenizer trainer logged (hits over the epoch's assignments / K)."""
    rows = []
    for line in train_log.read_text().splitlines():
        rec = json.loads(line)
        if "epoch_usage" in rec:
            rows.append({"epoch": rec["epoch"], "usage": rec["epoch_usage"]})
    if not rows:
        raise ValueError(f"{train_log} holds no per-epoch usage; retrain the tokenizer with this vqbench version")
    return rows
