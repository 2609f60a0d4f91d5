"""VQGAN-LC codebook initialisation (Zhu et al. 2024, Sec. 3.2 and Table 6): frozen encoder -> patch features
(4 x 4 pooled per image) -> K-means (faiss) or a random selection of features -> a K x D codebook.

Features are streamed from a seeded subset of training images (at most `max_features` rows in memory, float32);
faiss clusters them with a fixed seed. The paper describes one K-means over all features (`model.kmeans_scope=all`,
the default); the released code runs k-means per ImageNet class, 100 centres x 1000 classes
(`model.kmeans_scope=per_class`, per_class_codebook). Records say which one built a codebook.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from models.feature_encoders import GRID, PatchFeatureEncoder
from tasks.data.device_decode import finish_batch
from tasks.data.imagefolder import collate_skip_corrupt

INITS = ("kmeans", "random_selection")


def extract_features(encoder: PatchFeatureEncoder, data: Dataset, max_features: int, seed: int,
                     device: torch.device, batch_size: int = 32,
                     on_batch: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int]:
    """(N, D) float32 patch features of a seeded image subset, N <= max_features; returns (features, images used)."""
    per_image = GRID * GRID
    n_images = min(len(data), max(1, max_features // per_image))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n_images].sort().values
    loader = DataLoader(Subset(data, order.tolist()), batch_size=batch_size, shuffle=False, num_workers=0,
                        collate_fn=collate_skip_corrupt)
    out = np.empty((n_images * per_image, encoder.spec.dim), dtype=np.float32)
    filled, used = 0, 0
    encoder.to(device)
    for i, batch in enumerate(loader):
        batch = finish_batch(batch, device)
        if "image" in batch:
            f = encoder(batch["image"]).cpu().numpy()
            out[filled:filled + len(f)] = f
            filled += len(f)
            used += batch["image"].shape[0]
        if on_batch:
            on_batch(i + 1, len(loader))
    return out[:filled], used


def cluster(features: np.ndarray, k: int, init: str, seed: int, iters: int) -> tuple[np.ndarray, dict[str, Any]]:
    """K centres from features: faiss K-means, or K features drawn without replacement ('random_selection')."""
    n, d = features.shape
    if init not in INITS:
        raise ValueError(f"codebook init must be one of {INITS} (or 'random', which needs no stage), got '{init}'")
    if n < k:
        raise ValueError(f"only {n} features for a codebook of {k} entries: raise model.codebook_max_features, "
                         "use more images, or lower model.n_embed")
    if init == "random_selection":
        pick = np.random.default_rng(seed).choice(n, size=k, replace=False)
        return features[np.sort(pick)].copy(), {"features_per_code": n / k}
    import faiss

    faiss.omp_set_num_threads(torch.get_num_threads())  # fixed thread count: repeatable sums
    t0 = time.time()
    km = faiss.Kmeans(d, k, niter=iters, seed=seed, verbose=False, max_points_per_centroid=max(256, math.ceil(n / k)))
    km.train(np.ascontiguousarray(features))
    return km.centroids.copy(), {"kmeans_objective": float(km.obj[-1]), "kmeans_seconds": round(time.time() - t0, 2),
                                 "features_per_code": n / k}


def per_class_codebook(encoder: PatchFeatureEncoder, data: Dataset, k: int, init: str, seed: int, iters: int,
                       device: torch.device, max_features_per_class: int,
                       on_class: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The released code's codebook (VQGAN-LC codebook_generation/minibatch_kmeans_per_class.py): k / C centres
    from each class's own features, one class at a time, so memory holds one class (at most
    `max_features_per_class` features) instead of the whole split."""
    labels = np.array([data.label(p) for p in data.paths])  # from paths: no image is decoded to group them
    classes = np.unique(labels)
    if k % len(classes):
        raise ValueError(f"per-class k-means needs n_embed divisible by the {len(classes)} classes, got {k} "
                         f"(the released code: 100 per class x 1000 ImageNet classes)")
    per, centres, used, objective = k // len(classes), [], 0, 0.0
    for j, c in enumerate(classes):
        members = Subset(data, np.flatnonzero(labels == c).tolist())
        feats, n = extract_features(encoder, members, max_features_per_class, seed + int(c), device)
        got, info = cluster(feats, per, init, seed + int(c), iters)
        centres.append(got)
        used += n
        objective += info.get("kmeans_objective", 0.0)
        if on_class:
            on_class(j + 1, len(classes))
    return np.concatenate(centres), {"classes": len(classes), "codes_per_class": per, "images": used,
                                     "kmeans_objective": objective}
