"""Image-folder dataset for ImageNet / FFHQ / LSUN layouts with the papers' resize + center-crop protocol.

Layout: <root>/<split>/**/<image>; the first directory level under <split> is the class (ImageNet
'n01440764'), images directly under <split> get label 0. Optionally a text file lists the relative paths
of a split (taming's ffhqtrain.txt style). Unreadable images are counted and skipped, or made fatal.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from tasks.data.subset import draw_indices

log = logging.getLogger(__name__)
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
INTERPOLATIONS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS, "area": Image.BOX}
LAYOUT_HELP = ("expected layout: <root>/<split>/<class>/<image>.jpg (ImageNet), or <root>/<split>/<image>.png "
               "(FFHQ, LSUN), with image extensions " + ", ".join(sorted(IMAGE_EXTS)))


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root or split folder is missing or empty; the message says what layout is expected."""


class CorruptImageError(RuntimeError):
    """An image could not be decoded and the policy is on_corrupt=fail."""


@dataclass(frozen=True)
class Protocol:
    """Resize the shorter side to `resolution`, then center-crop `resolution` x `resolution`."""

    resolution: int
    interpolation: str = "bicubic"
    augment: str = "center"  # training only: random_crop (taming, VQGAN-LC) | random_crop_flip (RQ-VAE)

    def describe(self) -> str:
        return f"resize shorter side to {self.resolution} ({self.interpolation}), center crop {self.resolution}"


def resize_center_crop(img: Image.Image, p: Protocol) -> Image.Image:
    """Shorter side to p.resolution with PIL's antialiasing resampler, then the central square (or, with
    p.augment, a random square and an optional horizontal flip, drawn from torch's RNG so a resumed run
    restored to the same RNG state draws the same crops)."""
    w, h = img.size
    s = p.resolution / min(w, h)
    nw, nh = max(p.resolution, round(w * s)), max(p.resolution, round(h * s))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), INTERPOLATIONS[p.interpolation])
    if p.augment == "center":
        left, top = (nw - p.resolution) // 2, (nh - p.resolution) // 2
    elif p.augment in ("random_crop", "random_crop_flip"):
        left = int(torch.randint(0, nw - p.resolution + 1, ()))
        top = int(torch.randint(0, nh - p.resolution + 1, ()))
    else:
        raise ValueError(f"train.augment must be center, random_crop or random_crop_flip, got '{p.augment}'")
    img = img.crop((left, top, left + p.resolution, top + p.resolution))
    if p.augment == "random_crop_flip" and bool(torch.rand(()) < 0.5):
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img


def list_images(root: Path, split: str, file_list: str | None = None) -> list[Path]:
    """Sorted image paths of a split, or DatasetNotFoundError explaining the layout."""
    if not root.is_dir():
        raise DatasetNotFoundError(f"dataset root '{root}' does not exist; {LAYOUT_HELP}")
    if file_list:
        rel = [ln.strip() for ln in Path(file_list).read_text().splitlines() if ln.strip()]
        return [root / r for r in rel]
    split_dir = root / split
    if not split_dir.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise DatasetNotFoundError(f"split folder '{split_dir}' does not exist (found folders: {found or 'none'}); "
                                   f"{LAYOUT_HELP}")
    paths = sorted(p for p in split_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not paths:
        raise DatasetNotFoundError(f"no images under '{split_dir}'; {LAYOUT_HELP}")
    return paths


class ImageFolder(Dataset):
    """Yields {'image': (3, R, R) float in [-1, 1], 'label': int, 'index': int}, or None for a corrupt file.

    Class indices come from the whole split, so a subset keeps ImageNet's class ids; `subset` records the draw
    (seed, count, of how many)."""

    def __init__(self, root: str | Path, split: str, protocol: Protocol, on_corrupt: str = "skip",
                 max_images: int | None = None, file_list: str | None = None, subset_seed: int = 0) -> None:
        if on_corrupt not in ("skip", "fail"):
            raise ValueError(f"on_corrupt must be 'skip' or 'fail', got '{on_corrupt}'")
        self.root, self.split, self.protocol, self.on_corrupt = Path(root), split, protocol, on_corrupt
        every = list_images(self.root, split, file_list)
        # max_images: a seeded random draw across the whole split (None: every image, in sorted order)
        pick, self.subset = draw_indices(len(every), max_images, subset_seed)
        self.paths = [every[i] for i in pick]
        split_dir = self.root / split
        classes = sorted({p.relative_to(split_dir).parts[0] for p in every  # the whole split's classes
                          if p.is_relative_to(split_dir) and len(p.relative_to(split_dir).parts) > 1})
        self.class_to_idx = {c: i for i, c in enumerate(classes)}

    def __len__(self) -> int:
        return len(self.paths)

    def label(self, path: Path) -> int:
        parts = path.relative_to(self.root / self.split).parts if path.is_relative_to(self.root / self.split) else ()
        return self.class_to_idx.get(parts[0], 0) if len(parts) > 1 else 0

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        path = self.paths[i]
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")  # forces a full decode, so truncated files fail here
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            if self.on_corrupt == "fail":
                raise CorruptImageError(f"cannot decode image '{path}': {err} (set dataset.on_corrupt=skip to "
                                        "count and skip unreadable images)") from err
            log.warning("skipping unreadable image %s: %s", path, err)
            return None
        arr = np.asarray(resize_center_crop(img, self.protocol), dtype=np.float32)
        x = torch.from_numpy(arr).permute(2, 0, 1) / 127.5 - 1.0
        return {"image": x, "label": self.label(path), "index": i}


def collate_skip_corrupt(batch: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Stack the readable samples; 'n_corrupt' counts the ones dropped from this batch."""
    good = [b for b in batch if b is not None]
    out: dict[str, Any] = {"n_corrupt": len(batch) - len(good)}
    if good:
        out["image"] = torch.stack([b["image"] for b in good])
        out["label"] = torch.tensor([b["label"] for b in good])
        out["index"] = torch.tensor([b["index"] for b in good])
    return out
