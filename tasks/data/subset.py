"""Seeded random subsets of a split: every reference or evaluation sample smaller than its split is a draw
across the whole split (never the first N sorted files, which for ImageNet would be the first few classes)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SubsetDraw:
    """Which items of a split were used: `count` of `of`, drawn with `seed` (None: all, in order)."""

    seed: int | None
    count: int
    of: int

    def facts(self, prefix: str = "subset") -> dict[str, object]:
        """Protocol columns of the draw, e.g. subset_count / subset_of / subset_seed / subset."""
        what = ("all, in split order" if self.seed is None else
                f"seeded random draw of {self.count} of {self.of} (seed {self.seed}, torch.randperm, sorted)")
        return {f"{prefix}_count": self.count, f"{prefix}_of": self.of,
                f"{prefix}_seed": "" if self.seed is None else self.seed, prefix: what}


def draw_indices(n: int, count: int | None, seed: int) -> tuple[list[int], SubsetDraw]:
    """Indices of a seeded random `count`-subset of range(n), in increasing order; count None or >= n: all."""
    if count is None or count >= n:
        return list(range(n)), SubsetDraw(None, n, n)
    if count < 1:
        raise ValueError(f"a subset needs at least one item, got count={count}")
    pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:count].sort().values
    return pick.tolist(), SubsetDraw(seed, count, n)
