"""VQGAN-LC's generation FID: clean-fid `mode='clean'` of the saved samples against the raw train images.

zh460045050/VQGAN-LC scores every prior the same way, after writing the samples to files:
- `vqgan-gpt-lc/eval_generation.py` (GPT): `plt.imsave` PNG of `np.uint8` (truncated) pixels, then
  `cleanfid.fid.compute_fid(generation_save_dir, imagenet_path + "/train", mode="clean")`;
- `ldm-lc/run_evaluations.py` (LDM): `cv2.imwrite` JPEG (OpenCV's default quality 95) of truncated pixels, then
  `compute_fid(save_dirs, imagenet_path + "/train", mode="clean")`;
- `dit-lc/evaluation.py`, `sit-lc/evaluation.py` (DiT, SiT): `torchvision.utils.save_image` JPEG (PIL's default
  quality 75, rounded pixels), then `compute_fid(save_dir, dataset_name="imagenet_train" | args.data_path,
  mode="clean", dataset_split="custom")`: statistics of the train folder made by clean-fid's `make_custom_stats`.

clean-fid reads each file as `np.array(Image.open(f).convert("RGB"))` (raw, uncropped), resizes it with its clean
resizer (tasks/metrics/vqganlc.py `clean_resize`), takes Inception pool3 features, and compares np.mean / np.cov.
vqbench keeps the samples as uint8 arrays, so the sample files are re-created in memory (`as_saved`), and the
reference is every raw image of the split (the paper, Sec. 4.1: "compared against the ImageNet training set"; for
FFHQ "the combined training and validation set", which no official script covers).
"""
from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from tasks.metrics.fid import FeatureStats
from tasks.metrics.vqganlc import clean_features, raw_image

# (format, JPEG quality, how pixels became uint8) of the files an official script writes its samples to; each prior
# kind declares its script's (models/priors/base.py Prior.sample_file)
SampleFile = tuple[str, int | None, str]
LOSSLESS: SampleFile = ("png", None, "rounded")


def sample_file(file: SampleFile) -> str:
    """The record's description of the sample files clean-fid reads."""
    fmt, quality, pixels = file
    return f"{fmt}{'' if quality is None else f' quality {quality}'}, {pixels} pixels"


def as_saved(images_u8: np.ndarray, file: SampleFile) -> np.ndarray:
    """(N, H, W, 3) uint8 samples as clean-fid reads them back from the official script's files: PNG is lossless;
    JPEG goes through PIL's encoder at the script's quality (4:2:0, as PIL and OpenCV both default to)."""
    fmt, quality, _ = file
    if fmt == "png":
        return images_u8
    out = np.empty_like(images_u8)
    for i, img in enumerate(images_u8):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        with Image.open(buf) as back:
            out[i] = np.asarray(back.convert("RGB"))
    return out


def reference_splits(dataset: str) -> tuple[str, ...]:
    """The splits whose raw images form the reference: the train folder (the official scripts, ImageNet); for FFHQ
    train + val, as the paper's Sec. 4.1 states (no official FFHQ script exists)."""
    return ("train", "val") if dataset == "ffhq" else ("train",)


@torch.no_grad()
def clean_stats_of_files(inception: nn.Module, paths: Iterable[Path], device: torch.device,
                         batch: int = 32, dim: int = 2048) -> FeatureStats:
    """clean-fid statistics of image files read raw (no crop), as compute_fid's folder reader does."""
    stats, chunk = FeatureStats(dim), []
    for p in paths:
        chunk.append(raw_image(Path(p)))
        if len(chunk) == batch:
            stats.update(clean_features(inception, chunk, device))
            chunk = []
    if chunk:
        stats.update(clean_features(inception, chunk, device))
    return stats


@torch.no_grad()
def clean_stats_of_samples(inception: nn.Module, images_u8: np.ndarray, file: SampleFile, device: torch.device,
                           batch: int = 32, dim: int = 2048) -> FeatureStats:
    """clean-fid statistics of (N, H, W, 3) uint8 samples after the round trip through the official sample file."""
    stats = FeatureStats(dim)
    for i in range(0, len(images_u8), batch):
        stats.update(clean_features(inception, list(as_saved(images_u8[i:i + batch], file)), device))
    return stats
