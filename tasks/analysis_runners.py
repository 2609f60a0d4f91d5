"""The papers' analyses as registered runners (ANALYSES, one per analysis task in tasks/*.yaml): the 'analysis' stage
(bench/stages/downstream.py run_analysis) builds an AnalysisContext and calls the runner its config names; a new
analysis is one registered function here and its task YAML. The measurements themselves are in tasks/analyses.py.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from bench.core.registry import Registry
from bench.core.weights import WeightsSpec
from models.perceptual_nets import load_lpips
from tasks import analyses
from tasks.data.device_decode import finish_batch
from tasks.data.imagefolder import collate_skip_corrupt


@dataclass(frozen=True)
class AnalysisContext:
    """What an analysis may use: its stage config, the trained tokenizer and the harness's loaders."""

    config: dict[str, Any]
    tokenizer: torch.nn.Module  # trained, eval mode, on `device`
    device: torch.device
    out: Path  # the stage folder (figures go here)
    weights: WeightsSpec  # metric networks
    train_log: Path  # the tokenizer trainer's per-epoch log
    open_dataset: Callable[..., Any]  # (split, max_images=None, subset_seed=0) -> the planned dataset's split
    load_prior: Callable[[], tuple[Any, torch.nn.Module]]  # -> (bound prior entry, trained prior in eval mode)


@dataclass
class AnalysisResult:
    """Record rows (metric, value, 'setting_suffix', extra columns), protocol columns shared by every row, and the
    metric networks' weight hashes."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)


ANALYSES: Registry[Callable[[AnalysisContext], AnalysisResult]] = Registry("analysis")


def _val_batch(ctx: AnalysisContext) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """The config's `images` val images, a seeded random draw across the split, on the device; and the protocol
    columns (split, count, the draw)."""
    c = ctx.config
    data = ctx.open_dataset("val", c["images"], subset_seed=c.get("subset_seed", 0))
    batch = finish_batch(collate_skip_corrupt([data[i] for i in range(len(data))]), torch.device("cpu"))
    images = batch["image"].to(ctx.device)
    return images, batch["label"], {"split": f"{c['dataset']['name']}/val", "image_count": int(len(images)),
                                    **data.subset.facts()}


@ANALYSES.register("usage_over_training")
def usage_over_training(ctx: AnalysisContext) -> AnalysisResult:
    """Codebook usage per training epoch, from the trainer's log."""
    rows = [{"metric": "usage", "value": r["usage"], "setting_suffix": f" epoch={r['epoch']}", "epoch": r["epoch"],
             "split": "train assignments"} for r in analyses.usage_over_epochs(ctx.train_log)]
    return AnalysisResult(rows)


@ANALYSES.register("token_replacement")
def token_replacement(ctx: AnalysisContext) -> AnalysisResult:
    """PSNR of reconstructions from M-th nearest codes; over whole random categories when the config names a
    category count, else over a seeded draw of val images."""
    c, res = ctx.config, AnalysisResult()
    if "categories" not in c:
        images, _, res.protocol = _val_batch(ctx)
        res.rows = [{"metric": "psnr_rgb", "value": r["psnr_rgb"], "M": r["M"], "setting_suffix": f" M={r['M']}"}
                    for r in analyses.token_replacement(ctx.tokenizer, images, c["ms"])]
        return res
    data = ctx.open_dataset("val")
    pick, facts = analyses.category_draw([data.label(p) for p in data.paths], c["categories"], c.get("per_category"),
                                         c.get("subset_seed", 0), c.get("images"))
    loader = DataLoader(Subset(data, pick), batch_size=32, shuffle=False, num_workers=0,
                        collate_fn=collate_skip_corrupt)
    res.protocol = {"split": f"{c['dataset']['name']}/val", **facts}
    batches = (b["image"] for b in (finish_batch(b, ctx.device) for b in loader) if "image" in b)
    res.rows = [{"metric": m, "value": r[m], "M": r["M"], "setting_suffix": f" M={r['M']}"}
                for r in analyses.token_replacement(ctx.tokenizer, batches, c["ms"], ctx.device)
                for m in ("psnr_y", "psnr_rgb")]
    return res


def _prior_inputs(ctx: AnalysisContext) -> tuple[Any, torch.nn.Module, torch.Tensor, torch.Tensor | None,
                                                 dict[str, Any]]:
    """(prior entry, prior, val images, their labels when the prior is class-conditional, protocol columns)."""
    images, labels, protocol = _val_batch(ctx)
    entry, prior = ctx.load_prior()
    y = labels.to(ctx.device) if entry.model.n_classes > 0 else None
    return entry, prior, images, y, protocol


@ANALYSES.register("ar_visualization")
def ar_visualization(ctx: AnalysisContext) -> AnalysisResult:
    """Teacher-forced top-1 AR predictions: token accuracy, PSNR of their decoding against the reconstruction."""
    entry, prior, images, y, protocol = _prior_inputs(ctx)
    r = analyses.ar_visualization(ctx.tokenizer, prior, images, y, ctx.out / "ar_top1_grid.png")
    return AnalysisResult([{"metric": "token_accuracy", "value": r["token_accuracy"], "prior": entry.name},
                           {"metric": "psnr_rgb", "value": r["psnr_rgb_vs_recon"], "prior": entry.name,
                            "setting_suffix": " top1-vs-recon"}], protocol)


@ANALYSES.register("masked_reconstruction")
def masked_reconstruction(ctx: AnalysisContext) -> AnalysisResult:
    """Masked-token completion by the prior at each mask ratio: PSNR, SSIM, LPIPS against the input."""
    entry, prior, images, y, protocol = _prior_inputs(ctx)
    c, res = ctx.config, AnalysisResult(protocol=protocol)
    lpips, res.hashes["lpips_vgg"] = load_lpips("vgg", ctx.weights)
    for r in analyses.masked_reconstruction(ctx.tokenizer, prior, images, y, c["ratios"], lpips.to(ctx.device),
                                            c["seed"], ctx.out / "masked_grid.png"):
        res.rows += [{"metric": m, "value": r[m], "prior": entry.name, "mask_ratio": r["mask_ratio"],
                      "setting_suffix": f" mask={r['mask_ratio']} {r['mode']}"}
                     for m in ("psnr_rgb", "ssim", "lpips_vgg")]
    return res
