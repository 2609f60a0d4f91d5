"""Prior trainer: GPT / MaskGIT on cached indices, DiT / SiT / LDM on cached (standardised) latents.

Resumable like the tokenizer trainer (data order is a function of (seed, step)). A prior whose parameter count
exceeds `train.deepspeed_min_params` (or with train.deepspeed=on) trains under DeepSpeed ZeRO (stage configurable,
bf16 on GPU); on a CPU the same path runs in one process with the gloo backend, and checkpoints go through
DeepSpeed's save/load_checkpoint.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.training.loop import (
    CheckpointStore,
    StepCallback,
    TorchCheckpoint,
    TrainLoop,
    backward,
    optimizer_step,
    write_progress,
)
from bench.training.numerics import Numerics
from models.priors.base import prior_for
from models.priors.ema import EMA
from models.priors.lengths import prior_lr
from models.priors.registry import PriorEntry, build_prior
from tasks.data.sampling import StepBatchSampler, check_batch_fits


def prior_objective(entry: PriorEntry):
    """loss(model, x, y): the kind's training loss (token cross-entropy, diffusion epsilon MSE, flow velocity MSE)."""
    return prior_for(entry).loss


def prepare_inputs(entry: PriorEntry, values: np.ndarray, info: dict[str, Any]) -> torch.Tensor:
    """Cache arrays -> training inputs: the kind's transform in (indices reshaped; latents standardised or raw)."""
    return prior_for(entry).to_inputs(values, info)


def use_deepspeed(entry: PriorEntry, n_params: int) -> bool:
    mode = entry.train.deepspeed
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"train.deepspeed must be auto, on or off, got '{mode}'")
    return mode == "on" or (mode == "auto" and n_params > entry.train.deepspeed_min_params)


def deepspeed_precision(precision: str, device: torch.device) -> dict[str, Any]:
    """DeepSpeed's precision sections for train.precision. Before #16 DeepSpeed always ran bf16 on GPU; it now
    follows train.precision like every other trainer (fp32 unless asked)."""
    on_gpu = device.type == "cuda"
    return {"bf16": {"enabled": on_gpu and precision == "bf16"}, "fp16": {"enabled": on_gpu and precision == "fp16"}}


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
                device: torch.device, callbacks: Iterable[StepCallback] = ()) -> dict[str, Any]:
    """Train to entry.train.steps (resuming), write out/prior.safetensors + .json and train_log.jsonl.

    `callbacks` run after every step and keep their state in the checkpoint and in the prior artifact (the EMA hook)."""
    torch.manual_seed(seed)
    model = build_prior(entry).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    if use_deepspeed(entry, n_params):
        with single_process_group(device):
            return _train(entry, model, n_params, inputs, labels, out, seed, device, True, callbacks)
    return _train(entry, model, n_params, inputs, labels, out, seed, device, False, callbacks)


def _train(entry: PriorEntry, model: torch.nn.Module, n_params: int, inputs: torch.Tensor, labels: torch.Tensor,
           out: Path, seed: int, device: torch.device, ds: bool,
           callbacks: Iterable[StepCallback] = ()) -> dict[str, Any]:
    cfg = entry.train
    if cfg.accumulate < 1 or cfg.batch_size % cfg.accumulate:
        raise ValueError(f"{entry.name}: train.batch_size={cfg.batch_size} is not a multiple of "
                         f"train.accumulate={cfg.accumulate}: the micro-batches would differ in size")
    check_batch_fits(cfg.batch_size, len(inputs), f"{entry.name} prior train.batch_size", "token cache")
    num = Numerics.from_train(cfg, device, prior_for(entry).tf32)
    p = _DeepSpeedStep(entry, model, device, out, num) if ds else _PriorStep(entry, model, device, out, num)
    ema = EMACallback(EMA(p.module, cfg.ema_decay, cfg.ema_warmup), p.module) if cfg.ema_decay is not None else None
    callbacks = [*callbacks, *([ema] if ema else [])]
    # progress is looked up here, not bound at import, so a test may wrap this module's write_progress
    loop = TrainLoop(out, cfg.steps, cfg.ckpt_every, entry.name, p.store, p.state, callbacks=callbacks,
                     progress=write_progress, progress_every_s=0.0, advice="Lower train.lr or check the token cache.")
    start = loop.resume(p.load)
    sampler = StepBatchSampler(len(inputs), cfg.batch_size, seed, start, cfg.steps)
    p.net.train()
    t0 = time.time()
    with num.backends():
        loop.run(sampler, lambda step, idx: p.step(loop, step, flip_pick(inputs[idx], seed, step), labels[idx]))
    loop.finish({"entry": entry.to_dict(), "state_dict": p.module.state_dict()}, out / "prior.safetensors")
    return {"steps": cfg.steps, "resumed_from": start, "params": n_params, "deepspeed": ds, "processes": 1,
            "per_gpu_batch": cfg.batch_size // cfg.accumulate, "accumulate": cfg.accumulate,
            "global_batch": cfg.batch_size,
            "zero_stage": cfg.zero_stage if ds else None, "train_seconds": round(time.time() - t0, 2),
            **(ema.ema.facts() if ema else {"ema_decay": None}),
            **num.record(), **({"compile_seconds": loop.compile_seconds()} if num.compile else {})}


def flip_pick(x: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """Flip augmentation (DiT / VQGAN-LC train.py flip images before encoding): with a flip cache the inputs are
    (B, 2, ...), each sample's latents or its flipped image's, one picked per sample, seeded by (seed, step)."""
    if x.dim() != 5:
        return x
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    pick = (torch.rand(len(x), generator=g) < 0.5).view(-1, 1, 1, 1)
    return torch.where(pick, x[:, 1], x[:, 0])


class EMACallback:
    """The EMA of the weights (models/priors/ema.py) as a step callback: updated after every optimiser step (DiT /
    SiT train.py, LDM on_train_batch_end), kept in the checkpoint and in prior.safetensors under 'ema', sampled from."""

    name = "ema"

    def __init__(self, ema: EMA, module: torch.nn.Module) -> None:
        self.ema, self.module = ema, module

    def after_step(self, step: int) -> None:
        self.ema.update(self.module)

    def state_dict(self) -> dict[str, Any]:
        return self.ema.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema.load_state_dict(state)


class _PriorStep:
    """One AdamW step on the prior objective, with gradient clipping; checkpoints to out/ckpt.safetensors + .json."""

    def __init__(self, entry: PriorEntry, model: torch.nn.Module, device: torch.device, out: Path,
                 num: Numerics) -> None:
        cfg = entry.train
        self.cfg, self.device, self.objective, self.num = cfg, device, prior_objective(entry), num
        self.module = self.net = num.compiled(num.memory_format(model) if prior_for(entry).convolutional else model)
        self.opt = num.optimizer(torch.optim.AdamW, model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                                 weight_decay=cfg.weight_decay)
        self.scaler = num.grad_scaler()
        self.store: CheckpointStore = TorchCheckpoint(out / "ckpt.safetensors", device)

    def state(self) -> dict[str, Any]:
        state = {"model": self.module.state_dict(), "opt": self.opt.state_dict()}
        return {**state, "scaler": self.scaler.state_dict()} if self.scaler is not None else state

    def load(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])

    def lr(self, step: int) -> float:
        """Linear warm-up to train.lr, then constant or the paper's linear decay (models/priors/lengths.py)."""
        return prior_lr(self.cfg, step)

    def loss(self, loop: TrainLoop, step: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        x = self.num.images(x.to(next(self.module.parameters()).dtype)) if x.is_floating_point() else x
        with self.num.autocast():
            loss = self.objective(self.net, x, y.to(self.device)).float()
        loop.check_finite(loss, step, "loss")
        return loss

    def step(self, loop: TrainLoop, step: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """One optimiser step over the global batch, as `accumulate` micro-batches (one process: no DDP to sync)."""
        lr = self.lr(step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        n = self.cfg.accumulate
        if n == 1:
            loss = self.loss(loop, step, x, y)
            self.backward_step(loss)
        else:
            self.begin()
            losses = []
            for xk, yk in zip(x.chunk(n), y.chunk(n), strict=True):
                part = self.loss(loop, step, xk, yk)
                self.micro_backward(part, n)
                losses.append(part.detach())
            self.finish()
            loss = torch.stack(losses).mean()
        if step % max(1, self.cfg.steps // 20) == 0 or step == self.cfg.steps - 1:
            loop.log({"step": step, "loss": round(loss.item(), 6), "lr": lr})

    def backward_step(self, loss: torch.Tensor) -> None:
        """One batch: zero the gradients, backward, clip and step."""
        self.begin()
        self.micro_backward(loss, 1)
        self.finish()

    def begin(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def micro_backward(self, loss: torch.Tensor, n: int) -> None:
        """backward of one of n micro-batches' mean losses (bench/training/loop.py backward)."""
        backward(loss, self.scaler, n)

    def finish(self) -> None:
        """Clip the accumulated gradients and step (bench/training/loop.py optimizer_step)."""
        optimizer_step(self.opt, self.scaler, clip=(self.module.parameters(), self.cfg.grad_clip))


class _DeepSpeedStep(_PriorStep):
    """The same step under a DeepSpeed ZeRO engine (its optimiser, clipping and checkpoint folder)."""

    def __init__(self, entry: PriorEntry, model: torch.nn.Module, device: torch.device, out: Path,
                 num: Numerics) -> None:
        import deepspeed

        cfg = entry.train
        self.cfg, self.device, self.objective = cfg, device, prior_objective(entry)
        # DeepSpeed runs the model in its own precision (bf16/fp16 weights with fp32 masters; fp16 with its loss
        # scaler), so no autocast on top
        self.num = dataclasses.replace(num, precision="fp32")
        ds_cfg = {"train_micro_batch_size_per_gpu": cfg.batch_size // cfg.accumulate,
                  "gradient_accumulation_steps": cfg.accumulate,
                  "gradient_clipping": cfg.grad_clip,
                  "optimizer": {"type": "AdamW", "params": {"lr": cfg.lr, "betas": list(cfg.betas),
                                                            "weight_decay": cfg.weight_decay, "torch_adam": True}},
                  "zero_optimization": {"stage": cfg.zero_stage}, **deepspeed_precision(cfg.precision, device)}
        self.net, self.opt, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(),
                                                        config=ds_cfg)
        self.module = self.net.module
        self.store = DeepSpeedCheckpoint(self.net, out / "ds_ckpt")

    def state(self) -> dict[str, Any]:
        return {}  # model and optimiser state go through engine.save_checkpoint

    def load(self, state: dict[str, Any]) -> None:
        pass  # DeepSpeedCheckpoint.load already restored the engine

    def backward_step(self, loss: torch.Tensor) -> None:
        self.net.backward(loss)
        self.net.step()

    def begin(self) -> None:
        pass  # the engine zeroes gradients at its accumulation boundary

    def micro_backward(self, loss: torch.Tensor, n: int) -> None:
        """The engine divides by gradient_accumulation_steps itself and steps at the boundary."""
        self.net.backward(loss)
        self.net.step()

    def finish(self) -> None:
        pass


class DeepSpeedCheckpoint:
    """DeepSpeed's checkpoint folder: the engine saves its (sharded) model and optimiser; the loop's own entries
    (step, RNG, callback state) ride along as client state."""

    def __init__(self, engine: Any, path: Path) -> None:
        self.engine, self.path = engine, path

    def exists(self) -> bool:
        return (self.path / "latest").is_file()  # DeepSpeed's pointer to the newest tag

    def load(self) -> dict[str, Any]:
        _, client = self.engine.load_checkpoint(str(self.path))
        return dict(client)

    def save(self, state: dict[str, Any]) -> None:
        self.engine.save_checkpoint(str(self.path), tag=f"step{state['step']}", client_state=state)

    def clear(self) -> None:
        pass  # kept as before: DeepSpeed's folder is left for inspection; the prior artifact supersedes it
