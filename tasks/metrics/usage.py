"""Codebook usage over an eval set: hit-rate (VQGAN-LC) and perplexity (RQ-VAE style), from one histogram."""
from __future__ import annotations

import math

import torch


class CodebookUsage:
    """Counts every index seen; memory is O(K), independent of the number of images."""

    def __init__(self, codebook_size: int) -> None:
        self.counts = torch.zeros(codebook_size, dtype=torch.long)

    def update(self, indices: torch.Tensor) -> None:
        self.counts += torch.bincount(indices.flatten().cpu(), minlength=self.counts.numel())

    def usage(self) -> float:
        """Fraction of codes hit at least once (VQGAN-LC eval_reconstruction.py)."""
        return float((self.counts > 0).sum()) / self.counts.numel()

    def perplexity(self) -> float:
        """exp(entropy) of the empirical code distribution; K when usage is perfectly uniform."""
        p = self.counts.double() / max(int(self.counts.sum()), 1)
        p = p[p > 0]
        return math.exp(float(-(p * p.log()).sum()))
