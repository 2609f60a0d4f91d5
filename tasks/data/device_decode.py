"""dataset.decoder=gpu: JPEGs decoded on the rank's own device, not in the loader workers (issue #16.3).

A worker reads a JPEG's header (its size) and its bytes, and draws the sample's resize and crop there, from the
sample's own seeded generator, exactly as the CPU decoders do (tasks/data/transforms.py crop_box). The rank's
process then decodes the whole batch with one torchvision.io.decode_jpeg call on its device (nvJPEG on CUDA,
libjpeg-turbo on a CPU device), resizes and crops there. CUDA cannot run in forked workers, and a worker that only
reads bytes is cheap, so a node's CPUs should no longer limit how many GPUs it feeds (the CUDA path has
not yet run on a GPU here; the CPU-device path is tested).

On a CPU device the pixels are decoder=torchvision's exactly (the same libjpeg decode, the same tensor resize;
tests/test_loader.py). On CUDA, nvJPEG's IDCT may differ from libjpeg's by a grey level, which is why the decoder is
part of the protocol (and of the stage key) and the device is in every record. Non-JPEG files are decoded in the
worker as decoder=torchvision does.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tasks.data.augment import RESIZED_CROP_FLIP
from tasks.data.transforms import (
    CorruptImageError,
    Protocol,
    crop_box,
    crop_tensor,
    resize_tensor,
    resized_size,
    to_model_range,
)


@dataclass
class DeferredJpeg:
    """A JPEG read but not decoded: its bytes and the resize and crop already drawn for it."""

    data: torch.Tensor  # the file's bytes, uint8
    resized: tuple[int, int]  # (width, height) after the shorter-side resize
    box: tuple[int, int, bool]  # (left, top, flip) of the crop
    resolution: int
    interpolation: str
    path: str
    on_corrupt: str  # the dataset's policy, applied when the device decode fails


def read_deferred(path: Path, protocol: Protocol, generator: torch.Generator | None, on_corrupt: str) -> DeferredJpeg:
    """Header and bytes of a JPEG, with its crop drawn; OSError for a file whose header cannot be read."""
    if protocol.augment == RESIZED_CROP_FLIP:  # its crop is resized again: not a box of the resized image
        raise ValueError(f"train.augment={RESIZED_CROP_FLIP} needs dataset.decoder=pil or torchvision, not gpu")
    with Image.open(path) as img:  # reads the header only
        w, h = img.size
    nw, nh = resized_size(w, h, protocol.resolution)
    # numpy-owned bytes, so a worker can hand the tensor over in shared memory (torchvision.io.read_file's
    # storage cannot be: its file descriptor is not shareable)
    data = torch.from_numpy(np.fromfile(path, dtype=np.uint8))
    return DeferredJpeg(data, (nw, nh), crop_box(nw, nh, protocol, generator), protocol.resolution,
                        protocol.interpolation, str(path), on_corrupt)


def _decode_all(items: list[DeferredJpeg], device: torch.device) -> list[torch.Tensor | None]:
    """One batched device decode; on a failure, each file alone, so only the unreadable ones come back None."""
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        return list(decode_jpeg([it.data for it in items], mode=ImageReadMode.RGB, device=device))
    except RuntimeError:
        out: list[torch.Tensor | None] = []
        for it in items:
            try:
                out.append(decode_jpeg(it.data, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                out.append(None)
        return out


def _finish(x: torch.Tensor, item: DeferredJpeg) -> torch.Tensor:
    """Resize, crop and flip a decoded (3, H, W) uint8 image as drawn; float in [-1, 1]."""
    return to_model_range(crop_tensor(resize_tensor(x, *item.resized, item.interpolation), item.box, item.resolution))


def finish_batch(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The batch with 'image' on `device`: deferred JPEGs decoded there; undecodable ones counted in n_corrupt
    and dropped (with their labels), or CorruptImageError under on_corrupt=fail. A batch without deferred
    images only moves to the device."""
    if "items" not in batch:
        if "image" in batch:
            batch = {**batch, "image": batch["image"].to(device, non_blocking=True)}
        return batch
    items = batch["items"]
    jpegs = [i for i, it in enumerate(items) if isinstance(it, DeferredJpeg)]
    decoded = dict(zip(jpegs, _decode_all([items[i] for i in jpegs], device), strict=True))
    images, keep = [], []
    for i, it in enumerate(items):
        if not isinstance(it, DeferredJpeg):
            images.append(it.to(device, non_blocking=True))
        elif decoded[i] is None:
            if it.on_corrupt == "fail":
                raise CorruptImageError(f"cannot decode image '{it.path}' on {device} (set dataset.on_corrupt=skip "
                                        "to count and skip unreadable images)")
            continue
        else:
            images.append(_finish(decoded[i], it))
        keep.append(i)
    out: dict[str, Any] = {"n_corrupt": batch["n_corrupt"] + len(items) - len(keep)}
    if images:  # as collate_skip_corrupt: a batch with no readable image has no image, label or index
        idx = torch.tensor(keep, dtype=torch.long)
        out.update(image=torch.stack(images), label=batch["label"][idx], index=batch["index"][idx])
    return out
