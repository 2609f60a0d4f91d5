"""Prior trainer: GPT / MaskGIT on cached indices, DiT / SiT / LDM on cached (standardised) latents.

Resumable like the tokenizer trainer (data order is a function of (seed, step)). A prior whose parameter count
exceeds `train.deepspeed_min_params` (or with train.deepspeed=on) trains under DeepSpeed ZeRO (stage configurable,
bf16 on GPU); on a CPU the same path runs in one process with the gloo backend, and checkpoints go through
DeepSpeed's save/load_checkpoint.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.training.preempt import active_guard
from bench.training.tokenizer import (NonFiniteLossError, StepBatchSampler, _atomic_save, sync_log, truncate_log,
                         write_progress)
from models.priors.diffusion import Diffusion
from models.priors.ema import EMA
from models.priors.flow import Flow
from models.priors.lengths import prior_lr
from models.priors.registry import TOKEN_KINDS, PriorEntry, build_prior


def prior_objective(entry: PriorEntry):
    """loss(model, x, y): token cross-entropy, diffusion epsilon MSE, or flow velocity MSE."""
    if entry.kind in TOKEN_KINDS:
        return lambda model, x, y: model.loss(x, y if entry.model.n_classes > 0 else None)
    process = Flow(entry.process) if entry.kind == "sit" else Diffusion(entry.process)
    return lambda model, x, y: process.loss(model, x, y)


def prepare_inputs(entry: PriorEntry, values: np.ndarray, info: dict[str, Any]) -> torch.Tensor:
    """Indices -> (N, h*w, c) int64; latents -> (N, d, h, w) float32, standardised per channel or raw
    (entry.latent_norm: VQGAN-LC's ldm/dit/sit diffuse the raw quant_conv output, scale_factor 1.0)."""
    if entry.kind in TOKEN_KINDS:
        v = torch.from_numpy(values.astype(np.int64))
        return v.reshape(v.shape[0], -1, v.shape[-1])
    if entry.latent_norm == "raw":
        return torch.from_numpy(values.astype(np.float32))
    mean = torch.tensor(info["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(info["std"]).view(1, -1, 1, 1).clamp_min(1e-6)
    return (torch.from_numpy(values.astype(np.float32)) - mean) / std


def use_deepspeed(entry: PriorEntry, n_params: int) -> bool:
    mode = entry.train.deepspeed
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"train.deepspeed must be auto, on or off, got '{mode}'")
    return mode == "on" or (mode == "auto" and n_params > entry.train.deepspeed_min_params)


DIST_VARS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK")


@contextlib.contextmanager
def single_process_group(device: torch.device):
    """A process group for one local process when none exists (DeepSpeed needs one even alone). The group stays up
    (DeepSpeed caches groups built on it, so a second prior in this process reuses it), but the environment
    variables are restored, so jobs this process submits later (SLURM exports the environment) start clean."""
    import deepspeed

    saved = {k: os.environ.get(k) for k in DIST_VARS}
    if "MASTER_ADDR" not in os.environ:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1")
    os.environ.setdefault("LOCAL_RANK", "0")
    try:
        if not torch.distributed.is_initialized():
            deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def train_prior(entry: PriorEntry, inputs: torch.Tensor, labels: torch.Tensor, out: Path, seed: int,
                device: torch.device) -> dict[str, Any]:
    """Train to entry.train.steps (resuming), write out/prior.pt and train_log.jsonl."""
    torch.manual_seed(seed)
    model = build_prior(entry).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    if use_deepspeed(entry, n_params):
        with single_process_group(device):
            return _train(entry, model, n_params, inputs, labels, out, seed, device, True)
    return _train(entry, model, n_params, inputs, labels, out, seed, device, False)


def _train(entry: PriorEntry, model: torch.nn.Module, n_params: int, inputs: torch.Tensor, labels: torch.Tensor,
           out: Path, seed: int, device: torch.device, ds: bool) -> dict[str, Any]:
    cfg = entry.train
    objective = prior_objective(entry)
    start, engine, opt = 0, None, None
    ckpt = out / "ckpt.pt"
    ema = EMA(model, cfg.ema_decay, cfg.ema_warmup) if cfg.ema_decay is not None else None
    if ds:
        import deepspeed

        ds_cfg = {"train_micro_batch_size_per_gpu": cfg.batch_size, "gradient_accumulation_steps": 1,
                  "gradient_clipping": cfg.grad_clip,
                  "optimizer": {"type": "AdamW", "params": {"lr": cfg.lr, "betas": list(cfg.betas),
                                                            "weight_decay": cfg.weight_decay, "torch_adam": True}},
                  "zero_optimization": {"stage": cfg.zero_stage}, "bf16": {"enabled": device.type == "cuda"}}
        engine, opt, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=ds_cfg)
        if (out / "ds_ckpt" / "latest").is_file():  # DeepSpeed's pointer to the newest tag
            _, client = engine.load_checkpoint(str(out / "ds_ckpt"))
            start = int(client["step"])
            if ema is not None:
                ema.load_state_dict(client["ema"])
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        if ckpt.is_file():
            state = torch.load(ckpt, map_location=device, weights_only=False)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            torch.set_rng_state(state["rng"])
            start = state["step"]
            if ema is not None:
                ema.load_state_dict(state["ema"])

    log_path = out / "train_log.jsonl"
    truncate_log(log_path, start)  # lines written after the checkpoint would repeat

    def save(step: int) -> None:
        sync_log(log)  # every line up to the checkpoint survives a kill after it
        if engine is not None:
            engine.save_checkpoint(str(out / "ds_ckpt"), tag=f"step{step}",
                                   client_state={"step": step, "ema": ema.state_dict() if ema else None})
        else:
            _atomic_save({"step": step, "model": model.state_dict(), "opt": opt.state_dict(),
                          "rng": torch.get_rng_state(), "ema": ema.state_dict() if ema else None}, ckpt)

    sampler = StepBatchSampler(len(inputs), cfg.batch_size, seed, start, cfg.steps)
    net = engine if engine is not None else model
    net.train()
    dtype = next(net.parameters()).dtype
    t0, log = time.time(), log_path.open("a")
    guard = active_guard()
    for step, idx in zip(range(start, cfg.steps), sampler):
        lr = prior_lr(cfg, step)
        for group in opt.param_groups:
            group["lr"] = lr
        x = inputs[idx].to(device)
        if x.dim() == 5:  # flip augmentation: per sample, its latents or its flipped image's (seeded by the step)
            g = torch.Generator().manual_seed(seed * 1_000_003 + step)
            pick = (torch.rand(len(idx), generator=g) < 0.5).to(device).view(-1, 1, 1, 1)
            x = torch.where(pick, x[:, 1], x[:, 0])
        x = x.to(dtype) if x.is_floating_point() else x
        loss = objective(net, x, labels[idx].to(device)).float()
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"non-finite loss ({loss.item()}) at step {step} of prior {entry.name}; "
                                     f"last checkpoint: {out}. Lower train.lr or check the token cache.")
        if engine is not None:
            engine.backward(loss)
            engine.step()
        else:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
        if ema is not None:  # after every optimiser step (DiT / SiT train.py, LDM on_train_batch_end)
            ema.update(engine.module if engine is not None else model)
        if step % max(1, cfg.steps // 20) == 0 or step == cfg.steps - 1:
            log.write(json.dumps({"step": step, "loss": round(loss.item(), 6), "lr": lr}) + "\n")
            log.flush()
        if (step + 1) % cfg.ckpt_every == 0 and step + 1 < cfg.steps:
            save(step + 1)
        if guard is not None and step + 1 < cfg.steps:
            guard.poll(lambda: save(step + 1))  # SIGUSR2 / SIGTERM: checkpoint at this step boundary, then requeue
        write_progress(out / "progress.json", step + 1, cfg.steps, f"train {entry.name}")
    log.close()
    final = engine.module if engine else model
    _atomic_save({"entry": entry.to_dict(), "state_dict": final.state_dict(),
                  "ema_state_dict": ema.model_state(final) if ema else None,
                  "ema": ema.facts() if ema else None}, out / "prior.pt")
    ckpt.unlink(missing_ok=True)
    return {"steps": cfg.steps, "resumed_from": start, "params": n_params, "deepspeed": ds,
            "zero_stage": cfg.zero_stage if ds else None, "train_seconds": round(time.time() - t0, 2),
            **(ema.facts() if ema else {"ema_decay": None})}

