"""Metric registry: the one table of each metric's direction, unit, paper name and match tolerance.

Protocol facts (how a number was measured) live in `tasks/metrics/protocols.py`, per evaluation protocol
(`protocol_facts(name)`; that module imports this one, never the other way round). `bench/report/compare.py` derives
its direction, tolerance and metric mapping from here, so records and comparisons cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.core.registry import Registry


@dataclass(frozen=True)
class MetricEntry:
    """A metric's reporting facts; `paper_metric` is its name in results/paper_numbers.csv (None: not printed)."""

    name: str
    direction: str  # 'higher' or 'lower' is better
    unit: str
    description: str
    task: str  # which paper protocol applies: 'reconstruction', 'generation' or 'other'
    paper_metric: str | None = None
    # a reproduction 'matches' inside this band (seed-to-seed spread reported by the papers' own ablations:
    # VQGAN-LC T2 vs T7 vs T10 print the same model at rFID 2.62 / 2.66 and SSIM 58.1 / 58.9)
    tolerance: tuple[str, float] = ("rel", 0.05)


METRICS: Registry[MetricEntry] = Registry("metric")
for _m in (
    MetricEntry("psnr_rgb", "higher", "dB", "PSNR on RGB, mean over images", "reconstruction", "psnr", ("abs", 0.3)),
    MetricEntry("psnr_y", "higher", "dB", "PSNR on BT.601 Y (MATLAB rgb2ycbcr), mean over images", "reconstruction",
                "psnr", ("abs", 0.3)),
    MetricEntry("ssim", "higher", "fraction", "SSIM, Gaussian 11x11 sigma 1.5, population covariance, mean over RGB",
                "reconstruction", "ssim", ("abs", 0.01)),
    MetricEntry("lpips_vgg", "lower", "distance", "LPIPS v0.1 with the VGG16 backbone", "reconstruction", "lpips",
                ("abs", 0.01)),
    MetricEntry("lpips_alex", "lower", "distance", "LPIPS v0.1 with the AlexNet backbone", "reconstruction", "lpips",
                ("abs", 0.01)),
    MetricEntry("rfid", "lower", "FID", "FID of reconstructions vs the same real images", "reconstruction", "rfid",
                ("rel", 0.10)),
    MetricEntry("usage", "higher", "fraction", "codes hit at least once over the eval set / K", "reconstruction",
                "usage", ("abs", 0.02)),
    MetricEntry("perplexity", "higher", "codes", "exp(entropy) of the code histogram over the eval set",
                "reconstruction"),
    MetricEntry("fid", "lower", "FID", "FID of generated samples vs the reference split (train, as the papers)",
                "generation", "fid", ("rel", 0.10)),
    MetricEntry("is", "higher", "score", "Inception Score", "generation", "is", ("rel", 0.05)),
    MetricEntry("precision", "higher", "fraction", "improved precision (Kynkaanniemi et al. 2019), k=3",
                "generation", "precision", ("abs", 0.02)),
    MetricEntry("recall", "higher", "fraction", "improved recall (Kynkaanniemi et al. 2019), k=3", "generation",
                "recall", ("abs", 0.02)),
    MetricEntry("top1", "higher", "percent", "top-1 accuracy of the token-map classifier on the val split", "other",
                "top1", ("abs", 0.5)),
    MetricEntry("token_accuracy", "higher", "fraction", "teacher-forced top-1 AR predictions equal to the tokens",
                "other"),
    MetricEntry("params_m", "lower", "M", "encoder + quantizer + decoder parameters, counted on the meta device",
                "other", "params_m"),
    MetricEntry("tokens_per_image", "lower", "tokens", "h * w * c tokens for one image at the configured resolution",
                "other"),
    MetricEntry("codebook_size", "higher", "codes", "K, the number of codebook entries", "other"),
):
    METRICS.add(_m.name, _m)


def paper_metric_facts() -> dict[str, tuple[str, tuple[str, float]]]:
    """paper metric name -> (direction, tolerance), checked to agree across our metrics that map to it."""
    out: dict[str, tuple[str, tuple[str, float]]] = {}
    for name in METRICS.names():
        m = METRICS.get(name)
        if m.paper_metric is None:
            continue
        facts = (m.direction, m.tolerance)
        if out.setdefault(m.paper_metric, facts) != facts:
            raise ValueError(f"metrics mapping to paper metric '{m.paper_metric}' disagree: {facts} vs "
                             f"{out[m.paper_metric]}")
    return out
