"""The papers' image protocol as pixels: shorter-side resize, center (or random) crop, [-1, 1] floats, on PIL images
and on uint8 tensors (any device). Shared by the CPU decoders (tasks/data/imagefolder.py) and the device decoder
(tasks/data/device_decode.py), which both import it; it imports neither."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from tasks.data.augment import RESIZED_CROP_FLIP, resized_crop_flip, resized_crop_flip_tensor
from tasks.data.options import DEFAULTS
from tasks.metrics.vqganlc import cv2_resize_linear

INTERPOLATIONS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS, "area": Image.BOX}
# albumentations SmallestMaxSize's cv2.INTER_LINEAR (no antialiasing), bit-exact in numpy (tasks/metrics/vqganlc.py)
CV2_LINEAR = "cv2_linear"


class CorruptImageError(RuntimeError):
    """An image could not be decoded and the policy is on_corrupt=fail."""



@dataclass(frozen=True)
class Protocol:
    """Resize the shorter side to `resolution`, then center-crop `resolution` x `resolution`."""

    resolution: int
    interpolation: str = DEFAULTS.interpolation
    # training only: random_crop (taming, VQGAN-LC) | random_crop_flip (RQ-VAE ImageNet) | random_resized_crop_flip
    # (RQ-VAE FFHQ: tasks/data/augment.py, cropped from the decoded image, not after the shorter-side resize)
    augment: str = "center"
    # pil (default): PIL decode + PIL resize. torchvision: torchvision.io.decode_jpeg (same libjpeg-turbo IDCT:
    # identical pixels) + torchvision's antialiased uint8 resize, about twice as fast, which differs from PIL's
    # by one grey level on ~0.35% of pixels (tools/loader_throughput.py), so it is recorded where used.
    # gpu: workers read JPEG bytes; the rank decodes the batch on its device (tasks/data/device_decode.py).
    decoder: str = DEFAULTS.decoder

    def describe(self) -> str:
        text = f"resize shorter side to {self.resolution} ({self.interpolation}), center crop {self.resolution}"
        return text if self.decoder == "pil" else f"{text}, decoder {self.decoder}"


def resized_size(w: int, h: int, resolution: int) -> tuple[int, int]:
    s = resolution / min(w, h)
    return max(resolution, round(w * s)), max(resolution, round(h * s))


def crop_box(nw: int, nh: int, p: Protocol, generator: torch.Generator | None) -> tuple[int, int, bool]:
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
    nw, nh = resized_size(w, h, p.resolution)
    if (nw, nh) != (w, h) and p.interpolation == CV2_LINEAR:  # VQGAN-LC eval_reconstruction.py's resize
        img = Image.fromarray(cv2_resize_linear(np.asarray(img.convert("RGB")), nh, nw))
    elif (nw, nh) != (w, h):
        img = img.resize((nw, nh), INTERPOLATIONS[p.interpolation])
    left, top, flip = crop_box(nw, nh, p, generator)
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
    nw, nh = resized_size(w, h, p.resolution)
    x = resize_tensor(x, nw, nh, p.interpolation)
    return crop_tensor(x, crop_box(nw, nh, p, generator), p.resolution)


def crop_tensor(x: torch.Tensor, box: tuple[int, int, bool], resolution: int) -> torch.Tensor:
    """The `resolution` square at (left, top) of a (3, H, W) tensor, flipped horizontally if box says so."""
    left, top, flip = box
    x = x[:, top:top + resolution, left:left + resolution]
    return x.flip(-1) if flip else x


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float in [-1, 1], the tokenizers' input range."""
    return x.float() / 127.5 - 1.0
