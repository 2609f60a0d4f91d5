"""Reconstruction task: stream a split through a tokenizer and score it (PSNR, SSIM, LPIPS, rFID, usage).

Memory is bounded by one batch plus O(d^2) FID statistics and an O(K) code histogram, for any image count.
Real-image FID statistics are cached by (dataset, split, images, protocol, Inception weights hash).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from tqdm import tqdm

from tasks.metrics.fid import FeatureStats, frechet_distance, inception_pool, sample_size_facts
from tasks.metrics.image import PSNR, SSIM, to_uint8
from tasks.metrics.networks import WeightsSpec, load_inception, load_lpips
from tasks.metrics.usage import CodebookUsage


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
                            on_batch: Callable[[int], None] | None = None) -> ReconResult:
    """Run every batch through encode -> decode_indices and update the requested streaming metrics."""
    tokenizer.eval()
    psnr = {m: PSNR(m.split("_")[1]) for m in metrics if m.startswith("psnr_")}
    ssim = SSIM(data_range=1.0) if "ssim" in metrics else None
    lp, hashes = {}, {}
    for m in metrics:
        if m.startswith("lpips_"):
            net = m.split("_")[1]
            lp[m], hashes[f"lpips_{net}"] = load_lpips(net, weights)
            lp[m].to(device)
    lp_sum = {m: 0.0 for m in lp}
    usage = CodebookUsage(tokenizer.codebook_size) if {"usage", "perplexity"} & set(metrics) else None
    inception = real_stats = fake_stats = None
    if "rfid" in metrics:
        inception, hashes["inception"] = load_inception(weights)
        inception.to(device)
        fake_stats = FeatureStats()
        cached = ref_stats_path is not None and ref_stats_path.is_file()
        real_stats = FeatureStats.load(ref_stats_path) if cached else FeatureStats()
    n = n_corrupt = 0
    for i, batch in enumerate(tqdm(batches, total=total, desc="eval reconstruction", unit="batch", mininterval=2.0)):
        if on_batch:
            on_batch(i)  # batches finished so far
        n_corrupt += batch["n_corrupt"]
        if "image" not in batch:
            continue
        x = batch["image"].to(device)
        enc = tokenizer.encode(x)
        recon = tokenizer.decode_indices(enc.indices)
        real_u8, fake_u8 = to_uint8(x).cpu(), to_uint8(recon).cpu()
        for metric in psnr.values():
            metric.update(real_u8, fake_u8)
        if ssim:
            ssim.update(real_u8, fake_u8)
        for m, net in lp.items():  # LPIPS sees the uint8-rounded images, like every other metric here
            d = net(real_u8.to(device).float() / 127.5 - 1, fake_u8.to(device).float() / 127.5 - 1)
            lp_sum[m] += float(d.sum())
        if usage:
            usage.update(enc.indices)
        if inception is not None:
            fake_stats.update(inception_pool(inception, fake_u8.to(device)))
            if not cached:
                real_stats.update(inception_pool(inception, real_u8.to(device)))
        n += x.shape[0]
    if on_batch:
        on_batch(total or 0)
    if n == 0:
        raise RuntimeError(f"no readable images to evaluate ({n_corrupt} unreadable)")
    values = {m: p.compute() for m, p in psnr.items()}
    facts: dict[str, dict[str, object]] = {}
    if ssim:
        values["ssim"] = ssim.compute()
    values.update({m: s / n for m, s in lp_sum.items()})
    if usage:
        values.update({k: getattr(usage, k)() for k in ("usage", "perplexity") if k in metrics})
    if inception is not None:
        if cached and real_stats.n != n:
            raise RuntimeError(f"cached reference statistics {ref_stats_path} cover {real_stats.n} images, "
                               f"this evaluation read {n}; delete the file to rebuild it")
        if ref_stats_path is not None and not cached:
            ref_stats_path.parent.mkdir(parents=True, exist_ok=True)
            real_stats.save(ref_stats_path)
        values["rfid"] = frechet_distance(real_stats.statistics(), fake_stats.statistics())
        facts["rfid"] = sample_size_facts(fake_stats.n, real_stats.n, metric="rFID")
    return ReconResult(values, hashes, n, n_corrupt, facts)
