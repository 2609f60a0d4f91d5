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
from models.perceptual_nets import load_lpips
from tasks.data.device_decode import finish_batch
from tasks.metrics import vqganlc
from tasks.metrics.fid import FeatureStats, frechet_distance, inception_pool, sample_size_facts
from tasks.metrics.image import PSNR, SSIM, to_uint8
from tasks.metrics.networks import load_inception
from tasks.metrics.protocols import get_protocol, supports
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
                            on_batch: Callable[[int], None] | None = None, protocol: str | None = None,
                            raw_paths: list[Path] | None = None) -> ReconResult:
    """Run every batch through encode -> decode_indices and update the requested streaming metrics.

    protocol None / 'torch-fidelity': vqbench's uint8 metrics; 'vqganlc': VQGAN-LC's eval_reconstruction.py
    (tasks/metrics/vqganlc.py), whose rFID reference is the raw images at `raw_paths` (no crop)."""
    name = get_protocol(protocol).name
    for m in metrics:
        if not supports(name, m):
            raise ValueError(f"evaluation protocol '{name}' does not define metric '{m}'")
    lc = name == "vqganlc"
    if lc and "rfid" in metrics and raw_paths is None:
        raise ValueError("the vqganlc protocol scores rFID against the raw split images: pass raw_paths")
    tokenizer.eval()
    psnr = {m: (vqganlc.FloatPSNR if lc else PSNR)(m.split("_")[1]) for m in metrics if m.startswith("psnr_")}
    ssim = (vqganlc.PiqSSIM() if lc else SSIM(data_range=1.0)) if "ssim" in metrics else None
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
        real_stats = FeatureStats.load_cached(ref_stats_path)  # None: absent or unreadable (set aside), rebuilt
        cached = real_stats is not None
        real_stats = real_stats or FeatureStats()
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
        if lc:  # VQGAN-LC: float [0, 1] images, recon clamped; LPIPS on [-1, 1] inputs, recon unclamped
            real_m, fake_m = vqganlc.to_unit(x, clamp=False).cpu(), vqganlc.to_unit(recon, clamp=True).cpu()
            fake_u8 = vqganlc.saved_png_uint8(recon).cpu()
        else:
            real_m, fake_m = real_u8, fake_u8 = to_uint8(x).cpu(), to_uint8(recon).cpu()
        for metric in psnr.values():
            metric.update(real_m, fake_m)
        if ssim:
            ssim.update(real_m, fake_m)
        for m, net in lp.items():
            if lc:
                d = vqganlc.pyiqa_lpips(net, x, recon)
            else:  # LPIPS sees the uint8-rounded images, like every other metric here
                d = net(real_u8.to(device).float() / 127.5 - 1, fake_u8.to(device).float() / 127.5 - 1)
            lp_sum[m] += float(d.sum())
        if usage:
            usage.update(enc.indices)
        if inception is not None:
            if lc:
                fake_stats.update(vqganlc.clean_features(inception, list(fake_u8.permute(0, 2, 3, 1).numpy()),
                                                         device))
            else:
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
    if inception is not None and lc and not cached:  # clean-fid's reference: the raw files, resized uncropped
        for i in range(0, len(raw_paths), 32):
            real_stats.update(vqganlc.clean_features(inception, [vqganlc.raw_image(p) for p in raw_paths[i:i + 32]],
                                                     device))
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
