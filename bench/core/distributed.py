"""Distributed setup from the SLURM environment: one task per GPU, started by srun (never SSH)."""
from __future__ import annotations

import os

import torch


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _active() -> bool:
    return world_size() > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()


def average_gradients(module: torch.nn.Module) -> None:
    """Mean of each gradient over ranks, as DDP would do (one flat all-reduce).

    For modules that are not DDP-wrapped because they run forward twice a step: the PatchGAN is called in the
    generator loss and again in its own step. Taming (Lightning DDP over the whole module), VQGAN-LC and
    RQ-VAE all average the discriminator's gradients across GPUs; without it each rank trains its own.
    """
    if not _active():
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat.div_(world_size())
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def any_across_ranks(flags: torch.Tensor) -> torch.Tensor:
    """Logical OR of a boolean tensor over ranks (e.g. the codes any rank used this epoch)."""
    if not _active():
        return flags
    as_int = flags.to(torch.int32)
    torch.distributed.all_reduce(as_int, op=torch.distributed.ReduceOp.MAX)
    return as_int.bool()


def export_local_env(master_port: int) -> None:
    """torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR/PORT) for the tasks of a
    submitit local job (launcher=local, tasks_per_node > 1): one node, so local rank = global rank."""
    ntasks = int(os.environ.get("SUBMITIT_LOCAL_NTASKS", "1"))
    if ntasks <= 1 or "RANK" in os.environ:
        return
    me = os.environ["SUBMITIT_LOCAL_GLOBALID"]
    os.environ.update(RANK=me, LOCAL_RANK=me, WORLD_SIZE=str(ntasks), LOCAL_WORLD_SIZE=str(ntasks),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(master_port))


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
