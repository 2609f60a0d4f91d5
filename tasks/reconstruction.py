"""Reconstruction task: stream a split through a tokenizer and score it (PSNR, SSIM, LPIPS, rFID, usage).

Memory is bounded by one batch plus O(d^2) FID statistics and an O(K) code histogram, for any image count.
Real-image FID statistics are cached by (dataset, split, images, protocol, Inception weights hash).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from bench.core.weights import WeightsSpec
from tasks.data.device_decode import finish_batch
from tasks.metrics.protocols import get_protocol, supports
from tasks.metrics.recon_hooks import ReconBatch
from tasks.metrics.recon_metrics import RECON_METRICS, EvalContext


@dataclass
class ReconResult:
    """Metric values plus the facts that describe how they were measured."""

    values: dict[str, float]
    weights: dict[str, str]
    n_images: int
    n_corrupt: int
    metric_facts: dict[str, dict[str, object]] = field(default_factory=dict)  # extra columns of one metric's row


@torch.no_grad()
def evaluate_reconstruction(tokenizer: torch.nn.Module, batches: Iterable[dict[str, Any]], metrics: tuple[str, ...],
                            weights: WeightsSpec, device: torch.device, ref_stats_path: Path | None = None,
                            total: int | None = None,
                            on_batch: Callable[[int], None] | None = None, protocol: str | None = None,
                            raw_paths: list[Path] | None = None) -> ReconResult:
    """Run every batch through encode -> decode_indices and update the requested streaming metrics.

    Each metric is a registered builder (tasks/metrics/recon_metrics.py RECON_METRICS); the protocol's hooks
    (tasks/metrics/recon_hooks.py) give the images each metric sees and its implementation. A protocol whose rFID
    reference is the raw images (VQGAN-LC's clean-fid) reads them from `raw_paths` (no crop)."""
    p = get_protocol(protocol)
    for m in metrics:
        if not supports(p.name, m):
            raise ValueError(f"evaluation protocol '{p.name}' does not define metric '{m}'")
    if p.recon is None:
        raise ValueError(f"evaluation protocol '{p.name}' does not define a reconstruction evaluation")
    tokenizer.eval()
    ctx = EvalContext(tokenizer, weights, device, p.recon, ref_stats_path, raw_paths)
    meters = {m: RECON_METRICS.get(m)(m, ctx) for m in metrics}
    n = n_corrupt = 0
    for i, batch in enumerate(tqdm(batches, total=total, desc="eval reconstruction", unit="batch", mininterval=2.0)):
        if on_batch:
            on_batch(i)  # batches finished so far
        batch = finish_batch(batch, device)
        n_corrupt += batch["n_corrupt"]
        if "image" not in batch:
            continue
        x = batch["image"]
        enc = tokenizer.encode(x)
        recon = tokenizer.decode_indices(enc.indices)
        real, fake, fake_u8 = p.recon.images(x, recon)
        b = ReconBatch(x, recon, enc.indices, real, fake, fake_u8, device)
        for meter in meters.values():
            meter.update(b)
        n += x.shape[0]
    if on_batch:
        on_batch(total or 0)
    if n == 0:
        raise RuntimeError(f"no readable images to evaluate ({n_corrupt} unreadable)")
    values = {m: meter.compute(n) for m, meter in meters.items()}
    facts = {m: f for m, meter in meters.items() if (f := meter.facts())}
    hashes = {k: h for meter in meters.values() for k, h in meter.weights.items()}
    return ReconResult(values, hashes, n, n_corrupt, facts)
