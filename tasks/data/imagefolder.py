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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from tasks.data.augment import RESIZED_CROP_FLIP, resized_crop_flip, resized_crop_flip_tensor
from tasks.data.device_decode import read_deferred
from tasks.data.subset import draw_indices
from tasks.metrics.vqganlc import cv2_resize_linear

log = logging.getLogger(__name__)
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
# Pillow's modes for 16-bit grey (a 16-bit PNG opens as I;16, a TIFF as I;16 / I;16B; older Pillow and some
# TIFFs give I, 32-bit signed, holding the same 0..65535 values)
GREY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
INTERPOLATIONS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS, "area": Image.BOX}
# albumentations SmallestMaxSize's cv2.INTER_LINEAR (no antialiasing), bit-exact in numpy (tasks/metrics/vqganlc.py)
CV2_LINEAR = "cv2_linear"
DECODERS = ("pil", "torchvision", "gpu")
JPEG_EXTS = {".jpg", ".jpeg"}
LAYOUT_HELP = ("expected layout: <root>/<split>/<class>/<image>.jpg (ImageNet), or <root>/<split>/<image>.png "
               "(FFHQ, LSUN), with image extensions " + ", ".join(sorted(IMAGE_EXTS)))


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root or split folder is missing or empty; the message says what layout is expected."""


class CorruptImageError(RuntimeError):
    """An image could not be decoded and the policy is on_corrupt=fail."""


class MultiFrameImageError(ValueError):
    """A file holds several frames; it is skipped and counted like an unreadable one (or fatal: on_corrupt=fail)."""


@dataclass(frozen=True)
class Protocol:
    """Resize the shorter side to `resolution`, then center-crop `resolution` x `resolution`."""

    resolution: int
    interpolation: str = "bicubic"
    # training only: random_crop (taming, VQGAN-LC) | random_crop_flip (RQ-VAE ImageNet) | random_resized_crop_flip
    # (RQ-VAE FFHQ: tasks/data/augment.py, cropped from the decoded image, not after the shorter-side resize)
    augment: str = "center"
    # pil (default): PIL decode + PIL resize. torchvision: torchvision.io.decode_jpeg (same libjpeg-turbo IDCT:
    # identical pixels) + torchvision's antialiased uint8 resize, about twice as fast, which differs from PIL's
    # by one grey level on ~0.35% of pixels (tools/loader_throughput.py), so it is recorded where used.
    # gpu: workers read JPEG bytes; the rank decodes the batch on its device (tasks/data/device_decode.py).
    decoder: str = "pil"

    def describe(self) -> str:
        text = f"resize shorter side to {self.resolution} ({self.interpolation}), center crop {self.resolution}"
        return text if self.decoder == "pil" else f"{text}, decoder {self.decoder}"


def _resized_size(w: int, h: int, resolution: int) -> tuple[int, int]:
    s = resolution / min(w, h)
    return max(resolution, round(w * s)), max(resolution, round(h * s))


def _crop_box(nw: int, nh: int, p: Protocol, generator: torch.Generator | None) -> tuple[int, int, bool]:
    """(left, top, flip) of the training or evaluation crop; random draws come from `generator` (None: torch's
    global RNG), in the same order whatever the decoder."""
    if p.augment == "center":
        return (nw - p.resolution) // 2, (nh - p.resolution) // 2, False
    if p.augment not in ("random_crop", "random_crop_flip"):
        raise ValueError(f"train.augment must be center, random_crop, random_crop_flip or {RESIZED_CROP_FLIP}, "
                         f"got '{p.augment}'")
    left = int(torch.randint(0, nw - p.resolution + 1, (), generator=generator))
    top = int(torch.randint(0, nh - p.resolution + 1, (), generator=generator))
    flip = p.augment == "random_crop_flip" and bool(torch.rand((), generator=generator) < 0.5)
    return left, top, flip


def resize_center_crop(img: Image.Image, p: Protocol, generator: torch.Generator | None = None) -> Image.Image:
    """Shorter side to p.resolution with PIL's antialiasing resampler, then the central square (or, with
    p.augment, a random square and an optional horizontal flip, drawn from `generator`, by default torch's RNG)."""
    if p.augment == RESIZED_CROP_FLIP:  # RQ-VAE FFHQ: RandomResizedCrop on the decoded image, then the flip
        return resized_crop_flip(img, p.resolution, generator)
    w, h = img.size
    nw, nh = _resized_size(w, h, p.resolution)
    if (nw, nh) != (w, h) and p.interpolation == CV2_LINEAR:  # VQGAN-LC eval_reconstruction.py's resize
        img = Image.fromarray(cv2_resize_linear(np.asarray(img.convert("RGB")), nh, nw))
    elif (nw, nh) != (w, h):
        img = img.resize((nw, nh), INTERPOLATIONS[p.interpolation])
    left, top, flip = _crop_box(nw, nh, p, generator)
    img = img.crop((left, top, left + p.resolution, top + p.resolution))
    if flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img


def resize_tensor(x: torch.Tensor, nw: int, nh: int, interpolation: str) -> torch.Tensor:
    """A (3, H, W) uint8 tensor resized to (nh, nw) on its own device with torchvision's antialiased resize
    (bicubic, bilinear); lanczos and area go through PIL on the CPU, which torchvision does not implement."""
    import torchvision.transforms.v2.functional as TF

    if tuple(x.shape[-2:]) == (nh, nw):
        return x
    if interpolation == CV2_LINEAR:
        out = cv2_resize_linear(x.permute(1, 2, 0).cpu().numpy(), nh, nw)
        return torch.from_numpy(out).permute(2, 0, 1).to(x.device)
    if interpolation in ("bicubic", "bilinear"):
        mode = TF.InterpolationMode.BICUBIC if interpolation == "bicubic" else TF.InterpolationMode.BILINEAR
        return TF.resize(x, [nh, nw], interpolation=mode, antialias=True)
    img = Image.fromarray(x.permute(1, 2, 0).cpu().numpy()).resize((nw, nh), INTERPOLATIONS[interpolation])
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).to(x.device)


def resize_crop_tensor(x: torch.Tensor, p: Protocol, generator: torch.Generator | None = None) -> torch.Tensor:
    """resize_center_crop on a (3, H, W) uint8 tensor, with resize_tensor."""
    if p.augment == RESIZED_CROP_FLIP:
        return resized_crop_flip_tensor(x, p.resolution, generator)
    h, w = x.shape[-2:]
    nw, nh = _resized_size(w, h, p.resolution)
    x = resize_tensor(x, nw, nh, p.interpolation)
    return crop_tensor(x, _crop_box(nw, nh, p, generator), p.resolution)


def crop_tensor(x: torch.Tensor, box: tuple[int, int, bool], resolution: int) -> torch.Tensor:
    """The `resolution` square at (left, top) of a (3, H, W) tensor, flipped horizontally if box says so."""
    left, top, flip = box
    x = x[:, top:top + resolution, left:left + resolution]
    return x.flip(-1) if flip else x


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float in [-1, 1], the tokenizers' input range."""
    return x.float() / 127.5 - 1.0


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

    def __init__(self, root: str | Path, split: str, protocol: Protocol, on_corrupt: str = "skip",
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
