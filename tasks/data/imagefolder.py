"""Image-folder dataset for ImageNet / FFHQ / LSUN layouts with the papers' resize + center-crop protocol.

Layout: <root>/<split>/**/<image>; the first directory level under <split> is the class (ImageNet
'n01440764'), images directly under <split> get label 0. Optionally a text file lists the relative paths
of a split (taming's ffhqtrain.txt style). Unreadable images are counted and skipped, or made fatal; so are
multi-frame files (an animated GIF/PNG/WebP, a multi-page TIFF: no single image a paper's protocol defines).
16-bit images are scaled to 8 bits as torchvision and Pillow do (`to_rgb8`). Symlinked folders are followed;
symlink loops and dangling links are skipped, counted (`ImageFolder.unlisted`) and named in a warning.
"""
from __future__ import annotations

import errno
import logging
import os
import stat
from collections import Counter
from pathlib import Path
from typing import Any, get_args

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from tasks.data.device_decode import read_deferred
from tasks.data.options import DEFAULTS, Decoder
from tasks.data.subset import draw_indices
from tasks.data.transforms import (  # noqa: F401  (the pixel pipeline, re-exported: its former home)
    CV2_LINEAR,
    INTERPOLATIONS,
    CorruptImageError,
    Protocol,
    crop_tensor,
    resize_center_crop,
    resize_crop_tensor,
    resize_tensor,
    to_model_range,
)

log = logging.getLogger(__name__)
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
# Pillow's modes for 16-bit grey (a 16-bit PNG opens as I;16, a TIFF as I;16 / I;16B; older Pillow and some
# TIFFs give I, 32-bit signed, holding the same 0..65535 values)
GREY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
DECODERS = get_args(Decoder)
JPEG_EXTS = {".jpg", ".jpeg"}
LAYOUT_HELP = ("expected layout: <root>/<split>/<class>/<image>.jpg (ImageNet), or <root>/<split>/<image>.png "
               "(FFHQ, LSUN), with image extensions " + ", ".join(sorted(IMAGE_EXTS)))


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root or split folder is missing or empty; the message says what layout is expected."""


class MultiFrameImageError(ValueError):
    """A file holds several frames; it is skipped and counted like an unreadable one (or fatal: on_corrupt=fail)."""


def to_rgb8(img: Image.Image) -> Image.Image:
    """RGB with 8 bits per channel. 16-bit grey becomes v >> 8 (floor(v / 256)), as torchvision's
    `to_dtype(uint16 -> uint8, scale=True)` (transforms/v2/functional/_misc.py) and Pillow's own 48-bit RGB PNG
    decoder (it keeps each sample's high byte, rawmode RGB;16B) do; Pillow's convert('RGB') would clip it at 255
    instead (a 16-bit image of mean 127.5 on the 8-bit scale read as 254.5)."""
    if img.mode in GREY16_MODES:
        grey = np.right_shift(np.clip(np.asarray(img).astype(np.int64), 0, 65535), 8).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    return img.convert("RGB")


def _single_frame(img: Image.Image) -> Image.Image:
    """The image itself, or MultiFrameImageError for an animated or multi-page file."""
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        raise MultiFrameImageError(f"{frames} frames (an animated GIF/PNG/WebP or a multi-page TIFF): no single "
                                   "image to take")
    return img


def decode_image(path: Path, decoder: str = "pil") -> torch.Tensor | Image.Image:
    """A fully decoded RGB image: PIL, or with decoder=torchvision a (3, H, W) uint8 tensor (torchvision.io for
    JPEG files, PIL for other formats; decoder=gpu decodes its non-JPEG files this way). OSError/ValueError for an
    unreadable file, MultiFrameImageError (a ValueError) for a multi-frame one."""
    if decoder in ("torchvision", "gpu"):
        if path.suffix.lower() in JPEG_EXTS:
            from torchvision.io import ImageReadMode, decode_jpeg, read_file

            try:
                return decode_jpeg(read_file(str(path)), mode=ImageReadMode.RGB)
            except RuntimeError as err:  # torchvision reports a bad JPEG as RuntimeError
                raise OSError(str(err)) from err
        with Image.open(path) as img:
            return torch.from_numpy(np.asarray(to_rgb8(_single_frame(img))).copy()).permute(2, 0, 1)
    if decoder != "pil":
        raise ValueError(f"dataset.decoder must be one of {DECODERS}, got '{decoder}'")
    with Image.open(path) as img:
        return to_rgb8(_single_frame(img))  # forces a full decode, so truncated files fail here


def walk_images(split_dir: Path) -> tuple[list[Path], Counter[str]]:
    """Image files under split_dir, following symlinked folders once; a folder reached again (a symlink loop) and
    a link that does not resolve (a loop or dangling) are skipped and counted by reason."""
    paths, skipped, seen = [], Counter[str](), set()
    for dirpath, dirnames, filenames in os.walk(split_dir, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:  # reached again through a link: a loop (or a second way in)
            skipped["symlink loop"] += 1
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames.sort()
        for name in filenames:
            p = Path(dirpath) / name
            if p.suffix.lower() not in IMAGE_EXTS:
                continue
            try:
                if stat.S_ISREG(p.stat().st_mode):
                    paths.append(p)
            except OSError as err:  # stat follows the link: ELOOP for a loop, ENOENT for a dangling link
                skipped["symlink loop" if err.errno == errno.ELOOP else "dangling link"] += 1
    return sorted(paths), skipped


def list_images(root: Path, split: str, file_list: str | None = None,
                counts: Counter[str] | None = None) -> list[Path]:
    """Sorted image paths of a split, or DatasetNotFoundError explaining the layout; `counts` gets the links skipped
    (symlink loop / dangling link)."""
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
    paths, skipped = walk_images(split_dir)
    if counts is not None:
        counts.update(skipped)
    if skipped:
        log.warning("skipped under %s: %s", split_dir, ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())))
    if not paths:
        raise DatasetNotFoundError(f"no images under '{split_dir}'; {LAYOUT_HELP}")
    return paths


class ImageFolder(Dataset):
    """Yields {'image': (3, R, R) float in [-1, 1], 'label': int, 'index': int}, or None for a corrupt file.

    Class indices come from the whole split, so a subset keeps ImageNet's class ids; `subset` records the draw
    (seed, count, of how many)."""

    def __init__(self, root: str | Path, split: str, protocol: Protocol, on_corrupt: str = DEFAULTS.on_corrupt,
                 max_images: int | None = None, file_list: str | None = None, subset_seed: int = 0) -> None:
        if on_corrupt not in ("skip", "fail"):
            raise ValueError(f"on_corrupt must be 'skip' or 'fail', got '{on_corrupt}'")
        self.root, self.split, self.protocol, self.on_corrupt = Path(root), split, protocol, on_corrupt
        self.unlisted: Counter[str] = Counter()  # links skipped while listing, by reason
        every = list_images(self.root, split, file_list, self.unlisted)
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

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | None:
        """Sample `key`, or with key = (index, draw_seed) sample `index` with its random crop drawn from a
        generator seeded by draw_seed: the same crop in any DataLoader worker, or in none."""
        i, gen = (key[0], torch.Generator().manual_seed(key[1])) if isinstance(key, tuple) else (key, None)
        path = self.paths[i]
        deferred = self.protocol.decoder == "gpu" and path.suffix.lower() in JPEG_EXTS
        try:
            if deferred:  # decoded later, on the rank's device (tasks/data/device_decode.py finish_batch)
                item = read_deferred(path, self.protocol, gen, self.on_corrupt)
                return {"jpeg": item, "label": self.label(path), "index": i}
            img = decode_image(path, self.protocol.decoder)
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            if self.on_corrupt == "fail":
                raise CorruptImageError(f"cannot decode image '{path}': {err} (set dataset.on_corrupt=skip to "
                                        "count and skip unreadable images)") from err
            log.warning("skipping unreadable image %s: %s", path, err)
            return None
        if isinstance(img, torch.Tensor):
            x = to_model_range(resize_crop_tensor(img, self.protocol, gen))
        else:
            arr = np.asarray(resize_center_crop(img, self.protocol, gen), dtype=np.float32)
            x = torch.from_numpy(arr).permute(2, 0, 1) / 127.5 - 1.0
        return {"image": x, "label": self.label(path), "index": i}


def collate_skip_corrupt(batch: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Stack the readable samples; 'n_corrupt' counts the ones dropped from this batch. With decoder=gpu the
    images stay a list of 'items' (tensors and DeferredJpegs) until finish_batch decodes them on the device."""
    good = [b for b in batch if b is not None]
    out: dict[str, Any] = {"n_corrupt": len(batch) - len(good)}
    if any("jpeg" in b for b in good):
        out["items"] = [b["jpeg"] if "jpeg" in b else b["image"] for b in good]
        out["label"] = torch.tensor([b["label"] for b in good])
        out["index"] = torch.tensor([b["index"] for b in good])
        return out
    if good:
        out["image"] = torch.stack([b["image"] for b in good])
        out["label"] = torch.tensor([b["label"] for b in good])
        out["index"] = torch.tensor([b["index"] for b in good])
    return out
