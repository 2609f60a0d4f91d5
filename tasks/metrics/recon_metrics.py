"""Reconstruction metrics as registered streaming objects: tasks/reconstruction.py builds the ones a task YAML lists
(RECON_METRICS), feeds each batch to all of them and collects their values. A new metric is one module that adds its
MetricEntry (tasks/metrics/registry.py METRICS), its facts (tasks/metrics/protocols.py) and its builder here, imported
by tasks/registry.py; the protocol-specific steps come from the protocol's hooks (tasks/metrics/recon_hooks.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.core.registry import Registry
from bench.core.weights import WeightsSpec
from models.perceptual_nets import load_lpips
from tasks.metrics.fid import FeatureStats, frechet_distance, sample_size_facts
from tasks.metrics.networks import load_inception
from tasks.metrics.recon_hooks import ReconBatch, ReconHooks
from tasks.metrics.usage import CodebookUsage


@dataclass(frozen=True)
class EvalContext:
    """What a metric may need to build itself: the model, metric weights, device, protocol hooks, reference files."""

    tokenizer: nn.Module
    weights: WeightsSpec
    device: torch.device
    hooks: ReconHooks
    ref_stats_path: Path | None = None  # cached real-image FID statistics
    raw_paths: list[Path] | None = None  # the split's raw files (protocols whose rFID reference is the raw images)


class ReconMetric:
    """One metric accumulated over the evaluation's batches."""

    weights: dict[str, str]  # metric network -> weights hash, for the records

    def __init__(self) -> None:
        self.weights = {}

    def update(self, b: ReconBatch) -> None:
        """Accumulate one batch."""
        raise NotImplementedError

    def compute(self, n: int) -> float:
        """The value over the `n` images seen."""
        raise NotImplementedError

    def facts(self) -> dict[str, object]:
        """Extra columns of this metric's row (e.g. rFID's sample sizes); {} for none."""
        return {}


RECON_METRICS: Registry[Callable[[str, EvalContext], ReconMetric]] = Registry("reconstruction metric")


class Paired(ReconMetric):
    """A (real, fake) streaming metric built by the protocol's hooks (PSNR, SSIM)."""

    def __init__(self, metric: object) -> None:
        super().__init__()
        self.metric = metric

    def update(self, b: ReconBatch) -> None:
        self.metric.update(b.real, b.fake)

    def compute(self, n: int) -> float:
        return self.metric.compute()


class LPIPSMean(ReconMetric):
    """Mean LPIPS distance; the protocol's hook says which images the network sees."""

    def __init__(self, net: str, ctx: EvalContext) -> None:
        super().__init__()
        self.net, self.weights[f"lpips_{net}"] = load_lpips(net, ctx.weights)
        self.net.to(ctx.device)
        self.hook, self.sum = ctx.hooks.lpips, 0.0

    def update(self, b: ReconBatch) -> None:
        self.sum += float(self.hook(self.net, b).sum())

    def compute(self, n: int) -> float:
        return self.sum / n


class Usage(ReconMetric):
    """Codebook usage or perplexity from the code histogram over the eval set."""

    def __init__(self, stat: str, ctx: EvalContext) -> None:
        super().__init__()
        self.stat, self.hist = stat, CodebookUsage(ctx.tokenizer.codebook_size)

    def update(self, b: ReconBatch) -> None:
        self.hist.update(b.indices)

    def compute(self, n: int) -> float:
        return getattr(self.hist, self.stat)()


class RFID(ReconMetric):
    """FID of the reconstructions against the real images (cached statistics, or the protocol's raw reference)."""

    def __init__(self, ctx: EvalContext) -> None:
        super().__init__()
        if ctx.hooks.raw_reference is not None and ctx.raw_paths is None:
            raise ValueError("this protocol scores rFID against the raw split images: pass raw_paths")
        self.ctx = ctx
        self.inception, self.weights["inception"] = load_inception(ctx.weights)
        self.inception.to(ctx.device)
        self.fake = FeatureStats()
        real = FeatureStats.load_cached(ctx.ref_stats_path)  # None: absent or unreadable (set aside), rebuilt
        self.cached, self.real = real is not None, real or FeatureStats()

    def update(self, b: ReconBatch) -> None:
        hooks = self.ctx.hooks
        self.fake.update(hooks.fid_features(self.inception, b.fake_u8, b.device))
        if not self.cached and hooks.raw_reference is None:
            self.real.update(hooks.fid_features(self.inception, b.real, b.device))

    def compute(self, n: int) -> float:
        ctx = self.ctx
        if not self.cached and ctx.hooks.raw_reference is not None:
            for i in range(0, len(ctx.raw_paths), 32):
                self.real.update(ctx.hooks.raw_reference(self.inception, ctx.raw_paths[i:i + 32], ctx.device))
        if self.cached and self.real.n != n:
            raise RuntimeError(f"cached reference statistics {ctx.ref_stats_path} cover {self.real.n} images, "
                               f"this evaluation read {n}; delete the file to rebuild it")
        if ctx.ref_stats_path is not None and not self.cached:
            ctx.ref_stats_path.parent.mkdir(parents=True, exist_ok=True)
            self.real.save(ctx.ref_stats_path)
        return frechet_distance(self.real.statistics(), self.fake.statistics())

    def facts(self) -> dict[str, object]:
        return sample_size_facts(self.fake.n, self.real.n, metric="rFID")


for _colour in ("rgb", "y"):
    RECON_METRICS.add(f"psnr_{_colour}", lambda m, ctx: Paired(ctx.hooks.psnr(m.split("_")[1])))
RECON_METRICS.add("ssim", lambda m, ctx: Paired(ctx.hooks.ssim()))
for _net in ("vgg", "alex"):
    RECON_METRICS.add(f"lpips_{_net}", lambda m, ctx: LPIPSMean(m.split("_")[1], ctx))
for _stat in ("usage", "perplexity"):
    RECON_METRICS.add(_stat, lambda m, ctx: Usage(m, ctx))
RECON_METRICS.add("rfid", lambda m, ctx: RFID(ctx))
