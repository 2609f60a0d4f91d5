"""Streaming Fréchet Inception Distance (Heusel et al. 2017) through torch-fidelity's Inception and distance.

Features are accumulated as float64 sums (sum x, sum x x^T), so memory is O(d^2) whatever the image count;
mean and the unbiased covariance (as np.cov) then go to torch_fidelity.metric_fid.fid_statistics_to_metric.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.core.atomic import atomic_path
from bench.core.integrity import load_cached


class FeatureStats:
    """Running mean/covariance of (n, d) feature batches."""

    def __init__(self, dim: int = 2048) -> None:
        self.n = 0
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)

    def update(self, feats: torch.Tensor) -> None:
        f = feats.detach().to("cpu", torch.float64)
        self.n += f.shape[0]
        self.sum += f.sum(0)
        self.outer += f.T @ f

    def statistics(self) -> dict[str, np.ndarray]:
        """{'mu', 'sigma'} with sigma the unbiased covariance, as torch-fidelity computes it."""
        if self.n < 2:
            raise ValueError(f"FID needs at least 2 images, got {self.n}")
        mu = self.sum / self.n
        sigma = (self.outer - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return {"mu": mu.numpy(), "sigma": sigma.numpy()}

    def save(self, path: Path) -> None:
        with atomic_path(path, suffix=".npz") as tmp:  # savez keeps a name that ends in .npz
            np.savez(tmp, n=self.n, sum=self.sum.numpy(), outer=self.outer.numpy())

    @classmethod
    def load(cls, path: Path) -> FeatureStats:
        """Statistics saved by `save`; ValueError naming the file when its arrays do not fit together."""
        with np.load(path, allow_pickle=False) as data:
            n, total, outer = data["n"], data["sum"], data["outer"]
        d = total.shape[0] if total.ndim == 1 else -1
        if n.shape != () or int(n) < 0 or d < 1 or outer.shape != (d, d):
            raise ValueError(f"{path}: not feature statistics (n {n.shape}, sum {total.shape}, outer {outer.shape})")
        stats = cls(d)
        stats.n, stats.sum, stats.outer = int(n), torch.from_numpy(total), torch.from_numpy(outer)
        return stats

    @classmethod
    def load_cached(cls, path: Path | None) -> FeatureStats | None:
        """Cached reference statistics, or None when absent or unreadable (truncated, zero-filled: moved aside with
        one warning line), so the caller recomputes and saves them."""
        return None if path is None else load_cached(path, cls.load, "reference statistics")


class SmallSampleWarning(UserWarning):
    """An FID from fewer images than feature dimensions: its covariance is rank-deficient and the value biased."""


def sample_size_facts(n: int, n_ref: int | None = None, dim: int = 2048, metric: str = "FID") -> dict[str, object]:
    """Protocol columns of an FID's sample sizes; warns and labels `small_sample` when a side has n < dim + 1
    (an n-image covariance has rank <= n - 1, so below dim + 1 images it is singular)."""
    small = [f"{what} {k}" for what, k in (("images", n), ("reference images", n_ref)) if k is not None and k <= dim]
    note = ""
    if small:
        note = f"{metric} from {' and '.join(small)} <= {dim} feature dims (rank-deficient covariance)"
        warnings.warn(note, SmallSampleWarning, stacklevel=2)
    out: dict[str, object] = {"fid_sample_count": n, "small_sample": note}
    if n_ref is not None:
        out["fid_reference_count"] = n_ref
    return out


def frechet_distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """torch-fidelity's Fréchet distance between two {'mu', 'sigma'} statistics."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    return float(fid_statistics_to_metric(a, b, verbose=False)[KEY_METRIC_FID])


@torch.no_grad()
def inception_pool(inception: nn.Module, images_u8: torch.Tensor) -> torch.Tensor:
    """2048-d pool3 features of uint8 (b, 3, H, W) images (torch-fidelity resizes to 299 internally)."""
    return inception(images_u8)[0]
