"""Distributed setup from the SLURM environment: one task per GPU, started by srun (never SSH)."""
from __future__ import annotations

import os

import torch


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def init_from_slurm(backend: str | None = None, use_deepspeed: bool = False) -> torch.device:
    """Export MASTER_ADDR/PORT, RANK, WORLD_SIZE, LOCAL_RANK from SLURM (submitit) and init the process group.

    With one task this only picks the device. With DeepSpeed, `deepspeed.init_distributed` is called with the
    same environment, so DeepSpeed runs under srun like plain torch.distributed (gloo on CPU, nccl on GPU).
    """
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "MASTER_ADDR" not in os.environ:
        import submitit

        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size() > 1 and not torch.distributed.is_initialized():
        backend = backend or ("nccl" if device.type == "cuda" else "gloo")
        if use_deepspeed:
            import deepspeed

            deepspeed.init_distributed(dist_backend=backend)
        else:
            torch.distributed.init_process_group(backend=backend)
    return device
