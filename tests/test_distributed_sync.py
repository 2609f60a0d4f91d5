"""Two gloo processes on CPU: the discriminator's gradients are averaged over ranks (as DDP does) and equal
the single-process mean gradient of the ranks' halves; codes used per epoch are OR-ed over ranks."""
from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from models.discriminator import NLayerDiscriminator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        from bench.core.distributed import any_across_ranks, average_gradients

        torch.manual_seed(0)  # the same initial discriminator on every rank, as the trainer seeds it
        disc = NLayerDiscriminator(3, 8, 2)
        x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        ref = NLayerDiscriminator(3, 8, 2)
        ref.load_state_dict(disc.state_dict())
        for half in (0, 1):  # one process, both halves: the mean of the two halves' gradients (BatchNorm sees
            (0.5 * ref(x[half * 2:(half + 1) * 2]).mean()).backward()  # each half alone, as under DDP)
        disc(x[rank * 2:(rank + 1) * 2]).mean().backward()  # this rank's half
        before = max(float((p.grad - q.grad).abs().max())
                     for p, q in zip(disc.parameters(), ref.parameters(), strict=True))
        average_gradients(disc)
        out[rank] = max(float((p.grad - q.grad).abs().max())
                        for p, q in zip(disc.parameters(), ref.parameters(), strict=True))
        out[f"before{rank}"] = before
        hits = torch.zeros(6, dtype=torch.bool)
        hits[rank] = True
        out[f"hits{rank}"] = any_across_ranks(hits).tolist()
    finally:
        dist.destroy_process_group()


def test_discriminator_gradients_and_usage_are_synchronised_across_ranks():
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    assert out["before0"] > 1e-3 and out["before1"] > 1e-3  # each rank alone: its own half's gradient
    assert out[0] < 1e-6 and out[1] < 1e-6, dict(out)  # averaged over ranks == the global mean gradient
    assert out["hits0"] == out["hits1"] == [True, True, False, False, False, False]
