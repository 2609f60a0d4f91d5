"""Sampling from a trained prior and scoring the samples (FID, Inception Score, precision/recall k=3).

Token priors sample index maps that the tokenizer decodes; latent priors sample standardised latents that are
de-standardised, quantised by the tokenizer's quantizer and decoded (VQGAN-LC Sec. 3.3). Samples are kept as
uint8 (N, H, W, 3) in samples.npz so other evaluators (clean-fid, the ADM suite) can score the same images.
Metrics go through torch-fidelity: Inception pool3 for FID (streamed statistics), its logits for IS (10 splits),
and VGG16 fc2 features for precision/recall with k=3 neighbours (Kynkaanniemi et al. 2019).
"""
from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.core.atomic import atomic_path
from bench.core.weights import WeightsSpec
from models.priors.registry import PriorEntry, prior_for
from models.tokenizer import Tokenizer
from tasks.metrics import adm
from tasks.metrics.fid import FeatureStats, frechet_distance
from tasks.metrics.image import to_uint8
from tasks.metrics.networks import load_inception, load_vgg16_features
from tasks.metrics.protocols import get_protocol
from tasks.registry import TASKS, TaskSpec


def class_plan(n: int, n_classes: int, mode: str, seed: int) -> torch.Tensor:
    """Labels of the n samples: 'per_class' (equal count per class, e.g. 50 x 1000) or 'random' (uniform)."""
    if n_classes <= 1:
        return torch.zeros(n, dtype=torch.long)
    if mode == "per_class":
        return torch.arange(n) % n_classes
    if mode == "random":
        return torch.randint(0, n_classes, (n,), generator=torch.Generator().manual_seed(seed))
    raise ValueError(f"class_sampling must be 'per_class' or 'random', got '{mode}'")


@torch.no_grad()
def sample_images(entry: PriorEntry, prior: torch.nn.Module, tokenizer: Tokenizer, labels: torch.Tensor,
                  latent_info: dict[str, Any] | None, seed: int, device: torch.device,
                  use_cache: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """uint8 (N, H, W, 3) samples for the given labels, and throughput facts (forward passes, seconds)."""
    kind = prior_for(entry)
    prior.eval().to(device)
    tokenizer.eval().to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    out, passes, t0 = [], 0, time.time()
    for i in range(0, len(labels), entry.sample.batch_size):
        y = labels[i:i + entry.sample.batch_size].to(device)
        z, p = kind.sample(prior, y, tokenizer.latent_shape, gen, use_cache)
        images = kind.decode(tokenizer, z, latent_info)  # the transform out: de-standardise, quantise, decode
        out.append(to_uint8(images).permute(0, 2, 3, 1).cpu().numpy())
        passes += p
    seconds = time.time() - t0
    return np.concatenate(out), {"forward_passes": passes, "sample_seconds": round(seconds, 3),
                                 "images_per_second": round(len(labels) / max(seconds, 1e-9), 3)}


class GenerationFeatures:
    """Streams uint8 images through Inception (pool3 + logits) and VGG16 fc2, keeping what each metric needs."""

    def __init__(self, weights: WeightsSpec, device: torch.device, keep_vgg: int, keep_pool: bool = False) -> None:
        self.inception, self.vgg_net, inc_hash, vgg_hash = _networks(weights, str(device))
        self.batch_size = generation_task().batch_size  # images per feature batch (tasks/generation.yaml)
        self.device, self.keep_vgg, self.keep_pool = device, keep_vgg, keep_pool
        self.hashes = {"inception": inc_hash, "vgg16_fidelity": vgg_hash}
        self.stats, self.logits, self.vgg_feats = FeatureStats(2048), [], []
        self.pool: list[torch.Tensor] = []  # pool_3 features, kept for the ADM protocol's precision/recall

    @torch.no_grad()
    def update(self, images_u8: np.ndarray, vgg_mask: torch.Tensor | None = None) -> None:
        """Add a batch; `vgg_mask` picks the images whose VGG features are kept (default: the first keep_vgg)."""
        x = torch.from_numpy(images_u8).permute(0, 3, 1, 2).contiguous().to(self.device)
        pool, logits = self.inception(x)
        self.stats.update(pool)
        self.logits.append(logits.cpu())
        if self.keep_pool:
            self.pool.append((pool if vgg_mask is None else pool[vgg_mask.to(pool.device)]).cpu())
        have = sum(len(v) for v in self.vgg_feats)
        sel = x if vgg_mask is None else x[vgg_mask.to(x.device)]
        if have < self.keep_vgg and len(sel):
            self.vgg_feats.append(self.vgg_net(sel[: self.keep_vgg - have])[0].cpu())


@functools.lru_cache(maxsize=2)
def _networks(weights: WeightsSpec, device: str) -> tuple[torch.nn.Module, torch.nn.Module, str, str]:
    """Inception and VGG16 feature extractors, built once per process (stages run in-process share them)."""
    inception, inc_hash = load_inception(weights, ("2048", "logits_unbiased"))
    vgg, vgg_hash = load_vgg16_features(weights)
    return inception.to(device), vgg.to(device), inc_hash, vgg_hash


def _vgg_matrix(feats: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(feats) if feats else torch.zeros(0, 4096)


def generation_task() -> TaskSpec:
    """The generation task as tasks/generation.yaml writes it: metrics, feature batch size, counts."""
    return TASKS.get("generation")


def generation_metrics(fake: GenerationFeatures, ref_stats: FeatureStats, ref_vgg: torch.Tensor,
                       isc_splits: int | None = None, k: int | None = None, protocol: str | None = None,
                       ref_pool: torch.Tensor | None = None) -> dict[str, float]:
    """The task's metrics (generation.yaml `metrics`): FID vs the reference statistics, Inception Score, precision
    and recall (k-NN manifolds, VGG16 fc2); protocol 'adm': the ADM evaluator's IS splits and Inception-pool
    precision/recall vs `ref_pool`. isc_splits and k default to the YAML's settings."""
    task = generation_task()
    isc_splits = task.settings["isc_splits"] if isc_splits is None else isc_splits
    k = task.settings["prc_k"] if k is None else k
    values = _all_metrics(fake, ref_stats, ref_vgg, isc_splits, k, protocol, ref_pool)
    return {m: values[m] for m in task.metrics}


def _all_metrics(fake: GenerationFeatures, ref_stats: FeatureStats, ref_vgg: torch.Tensor, isc_splits: int, k: int,
                 protocol: str | None, ref_pool: torch.Tensor | None) -> dict[str, float]:
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    fid = frechet_distance(fake.stats.statistics(), ref_stats.statistics())
    if get_protocol(protocol).name == "adm":
        if ref_pool is None or not fake.pool:
            raise ValueError("the adm protocol needs Inception pool features of the reference batch and samples")
        precision, recall = adm.precision_recall(ref_pool, torch.cat(fake.pool), k)
        return {"fid": fid, "is": adm.inception_score(torch.cat(fake.logits)), "precision": precision,
                "recall": recall}
    logits = torch.cat(fake.logits)
    isc = isc_features_to_metric(logits, splits=min(isc_splits, len(logits)), shuffle=True, rng_seed=2020)
    fake_vgg = _vgg_matrix(fake.vgg_feats)
    n = min(len(fake_vgg), len(ref_vgg))
    # torch-fidelity's convention: features_1 generated, features_2 real; 'part' keeps memory bounded
    prc = prc_features_to_metric(fake_vgg[:n], ref_vgg[:n], prc_neighborhood=min(k, n - 1), prc_batch_size=10000,
                                 save_cpu_ram=True, verbose=False)
    return {"fid": fid, "is": float(isc["inception_score_mean"]), "precision": float(prc["precision"]),
            "recall": float(prc["recall"])}


def save_samples(path: Path, images: np.ndarray, labels: torch.Tensor) -> None:
    with atomic_path(path, suffix=".npz") as tmp:  # savez keeps a name that ends in .npz
        np.savez_compressed(tmp, images=images, labels=labels.numpy())
