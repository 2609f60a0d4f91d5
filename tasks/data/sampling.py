"""The step batch sampler both trainers draw from (bench/training/tokenizer.py, bench/training/prior.py), and the
check that a step batch fits its split.

Batch b of a run is a pure function of (seed, b), so a resumed run draws exactly the batches it would have drawn
(tests/test_resume_logs.py), and several ranks split one global batch between them.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler


class BatchLargerThanSplitError(ValueError):
    """The global batch holds more samples than the training split: refused before the model is built."""


def check_batch_fits(batch: int, n: int, key: str, what: str, ranks: int = 1) -> None:
    """Refuse a step batch larger than the split, naming both numbers (one step would repeat samples, and a huge
    batch makes StepBatchSampler list billions of indices: a hang with no message)."""
    if batch * ranks > n:
        per = f"{batch} x {ranks} ranks = {batch * ranks}" if ranks > 1 else f"{batch}"
        raise BatchLargerThanSplitError(f"{key}={per} is larger than the {what} ({n} samples); set {key} to at "
                                        f"most {max(1, n // ranks)}")


class StepBatchSampler(Sampler[list[Any]]):
    """Batch b of the run = samples [b*B, (b+1)*B) of a stream of seeded per-epoch permutations.

    With several ranks, B is the global batch and rank r takes its r-th slice of every batch. With draw_seeds,
    each item is (index, draw seed of its stream position): random crops are then a function of (seed, step),
    the same with any number of DataLoader workers and after a resume (tasks/data/imagefolder.py).
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_step: int, end_step: int,
                 rank: int = 0, world: int = 1, draw_seeds: bool = False) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start_step, self.end_step, self.rank, self.world = start_step, end_step, rank, world
        self.draw_seeds = draw_seeds
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {epoch: torch.randperm(self.n,
                                                 generator=torch.Generator().manual_seed(self.seed * 100003 + epoch))}
        return self._perms[epoch]

    def batch(self, step: int) -> list[int]:
        pos = range(step * self.batch_size, (step + 1) * self.batch_size)
        return [int(self._perm(p // self.n)[p % self.n]) for p in pos]

    def __iter__(self) -> Iterator[list[Any]]:
        per_rank = self.batch_size // self.world
        for step in range(self.start_step, self.end_step):
            mine = slice(self.rank * per_rank, (self.rank + 1) * per_rank)
            if not self.draw_seeds:
                yield self.batch(step)[mine]
                continue
            first = step * self.batch_size + mine.start  # stream position of this rank's first sample
            yield [(i, (self.seed * 1_000_003 + first + k) % 2**63) for k, i in enumerate(self.batch(step)[mine])]

    def __len__(self) -> int:
        return self.end_step - self.start_step
