"""DataLoader settings that change speed, never batches: worker count from the job's CPUs, pinned memory, prefetch.

Batches do not depend on the worker count: sample order comes from the sampler (in the main process) and random
crops from a generator seeded per sample (tasks/data/imagefolder.py ImageFolder.__getitem__), so 0 and N
workers give the same tensors (tests/test_loader.py). So the worker count is one runtime knob,
`scale.loader.workers`, outside every stage key, for the training and the evaluation loaders alike.
"""
from __future__ import annotations

import os
from typing import Any

import torch


def job_cpus() -> int:
    """CPUs this job may use: SLURM's --cpus-per-task, else this process's CPU affinity, else os.cpu_count()."""
    if os.environ.get("SLURM_CPUS_PER_TASK", "").isdigit():
        return max(1, int(os.environ["SLURM_CPUS_PER_TASK"]))
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def auto_workers() -> int:
    """Workers for one rank: the job's CPUs shared among the node's local ranks, one CPU left to the rank itself.

    Under SLURM, cpus_per_task is already per rank; otherwise (a workstation, torchrun) the affinity set is the
    node's and is divided by LOCAL_WORLD_SIZE.
    """
    cpus = job_cpus()
    if not os.environ.get("SLURM_CPUS_PER_TASK", "").isdigit():
        cpus //= max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(0, cpus - 1)


def resolve_workers(setting: int | str) -> int:
    """The worker count of scale.loader.workers, the one worker knob: an int as it is, 'auto' sized from the CPUs."""
    if setting == "auto":
        return auto_workers()
    if isinstance(setting, int) and setting >= 0:
        return setting
    raise ValueError(f"scale.loader.workers must be 'auto' or an int >= 0, got {setting!r}")


def loader_options(workers: int, device: torch.device, prefetch_factor: int = 2,
                   persistent: bool = True) -> dict[str, Any]:
    """DataLoader keyword arguments: pinned host memory for CUDA copies (with .to(device, non_blocking=True)),
    workers kept alive between epochs of a re-iterated loader, `prefetch_factor` batches queued per worker."""
    opts: dict[str, Any] = {"num_workers": workers, "pin_memory": device.type == "cuda"}
    if workers > 0:
        opts.update(persistent_workers=persistent, prefetch_factor=prefetch_factor)
    return opts
