"""Training augmentations that crop from the decoded image itself rather than after the shorter-side resize.

RQ-VAE's FFHQ pipeline (kakaobrain/rq-vae-transformer `rqvae/img_datasets/transforms.py`, `ffhq` branch):
torchvision `RandomResizedCrop(resolution, scale=(0.75, 1.0), ratio=(1.0, 1.0))` (bilinear, antialiased on PIL
images) then `RandomHorizontalFlip(0.5)`. The box is drawn as torchvision's `RandomResizedCrop.get_params` draws it
(ten tries of area and log-ratio, else the central crop), from the same RNG stream, so one seed gives one crop.
"""
from __future__ import annotations

import math

import torch
from PIL import Image

RESIZED_CROP_FLIP = "random_resized_crop_flip"
RQVAE_FFHQ_SCALE = (0.75, 1.0)  # rqvae/img_datasets/transforms.py, ffhq: scale=(0.75, 1.0)
RQVAE_FFHQ_RATIO = (1.0, 1.0)  # ratio=(1.0, 1.0): square crops


def resized_crop_box(w: int, h: int, scale: tuple[float, float] = RQVAE_FFHQ_SCALE,
                     ratio: tuple[float, float] = RQVAE_FFHQ_RATIO,
                     generator: torch.Generator | None = None) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random crop covering `scale` of the area at an aspect ratio in `ratio`,
    by torchvision's rule: up to ten draws, falling back to the largest central crop within `ratio`."""
    area = h * w
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        aspect = math.exp(torch.empty(1).uniform_(log_lo, log_hi, generator=generator).item())
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, size=(1,), generator=generator).item())
            left = int(torch.randint(0, w - cw + 1, size=(1,), generator=generator).item())
            return top, left, ch, cw
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        cw, ch = int(round(h * max(ratio))), h
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def resized_crop_flip(img: Image.Image, resolution: int, generator: torch.Generator | None = None) -> Image.Image:
    """RQ-VAE's FFHQ training view of a PIL image: the random resized square, bilinear to `resolution`, then a
    horizontal flip with probability 0.5 (drawn after the box, as the official Compose does)."""
    top, left, ch, cw = resized_crop_box(img.width, img.height, generator=generator)
    out = img.crop((left, top, left + cw, top + ch)).resize((resolution, resolution), Image.BILINEAR)
    if torch.rand(1, generator=generator).item() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return out


def resized_crop_flip_tensor(x: torch.Tensor, resolution: int,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """resized_crop_flip on a (3, H, W) uint8 tensor with torchvision's antialiased bilinear resize."""
    import torchvision.transforms.v2.functional as TF

    top, left, ch, cw = resized_crop_box(x.shape[-1], x.shape[-2], generator=generator)
    out = TF.resized_crop(x, top, left, ch, cw, [resolution, resolution],
                          interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
    return out.flip(-1) if torch.rand(1, generator=generator).item() < 0.5 else out
