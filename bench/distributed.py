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


def deepspeed_selftest(zero_stage: int = 2, steps: int = 3) -> dict:
    """A few ZeRO steps of a tiny model under the SLURM-started process group (gloo on CPU): a cluster check.

    Every rank must report the same world size and the same losses: that shows DeepSpeed was started by
    srun with the environment exported here, not through its SSH launcher.
    """
    import deepspeed

    device = init_from_slurm(use_deepspeed=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    cfg = {"train_micro_batch_size_per_gpu": 4, "gradient_accumulation_steps": 1,
           "optimizer": {"type": "Adam", "params": {"lr": 1e-2, "torch_adam": True}},
           "zero_optimization": {"stage": zero_stage}, "bf16": {"enabled": device.type == "cuda"}}
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=cfg)
    gen = torch.Generator().manual_seed(rank())
    losses = []
    for _ in range(steps):
        x = torch.randn(4, 16, generator=gen).to(engine.device)
        loss = engine(x.to(next(engine.parameters()).dtype)).float().pow(2).mean()
        engine.backward(loss)
        engine.step()
        mean = loss.detach().clone()
        torch.distributed.all_reduce(mean)
        losses.append(float(mean) / world_size())
    return {"rank": rank(), "world_size": world_size(), "losses": losses, "zero_stage": zero_stage}
