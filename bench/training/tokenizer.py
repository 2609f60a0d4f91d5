"""Tokenizer trainer (taming VQModel.training_step): Adam for the autoencoder and the PatchGAN, one step each per batch.

Resumable: the data order is a pure function of (seed, step), and a checkpoint holds model, discriminator,
both optimisers and RNG state, so an interrupted run continues where it stopped and ends with the same weights.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from bench.core.distributed import any_across_ranks, average_gradients, rank, world_size
from bench.core.weights import WeightsSpec
from bench.training.loop import (  # noqa: F401 (NonFiniteLossError: re-exported)
    NonFiniteLossError,
    TorchCheckpoint,
    TrainLoop,
    backward,
    optimizer_step,
)
from bench.training.numerics import Numerics
from models.losses import VQLPIPSWithDiscriminator
from models.registry import TokenizerEntry, TrainConfig, build_tokenizer
from models.semantic_loss import build_perceptual
from tasks.data.device_decode import finish_batch
from tasks.data.imagefolder import collate_skip_corrupt
from tasks.data.sampling import StepBatchSampler, check_batch_fits

# Steps logged one by one at the start of every run: before Adam's sign-sensitive first updates compound,
# these agree across CPUs to ~1e-5, so bench/report/golden.py can hold them to tight bands.
TRAJECTORY_STEPS = 8


class NoTrainingImagesError(RuntimeError):
    """A whole pass over the training split gave no readable image: nothing would be trained."""


def _freeze(model: torch.nn.Module, prefixes: tuple[str, ...]) -> int:
    """requires_grad=False for parameters whose names start with a prefix; returns how many were frozen."""
    if not prefixes:
        return 0
    names = [n for n, _ in model.named_parameters()]
    unknown = [p for p in prefixes if not any(n.startswith(p) for n in names)]
    if unknown:
        raise ValueError(f"train.freeze prefixes {unknown} match no parameter; top-level modules: "
                         f"{sorted({n.split('.')[0] for n in names})}")
    count = 0
    for name, param in model.named_parameters():
        if name.startswith(prefixes):
            param.requires_grad_(False)
            count += param.numel()
    return count


def train_tokenizer(entry: TokenizerEntry, dataset: Dataset, out_dir: Path, seed: int, device: torch.device,
                    weights: WeightsSpec, on_step: Callable[[int], None] | None = None,
                    init: Callable[[torch.nn.Module], dict[str, Any]] | None = None,
                    loader_opts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train to entry.train.steps, resuming from out_dir/ckpt.*; writes out_dir/tokenizer.safetensors + .json and
    train_log.jsonl.

    `loader_opts`: DataLoader settings that change speed only (tasks/data/loader.py); default: train.num_workers.

    `init(model)` runs on the freshly built model before any resume: it installs a built codebook (VQGAN-LC)
    or the first phase's weights (SeQ-GAN phase 2). Parameters under `entry.train.freeze` prefixes stay fixed.

    Under torch.distributed (one task per GPU, from SLURM), the batch is per task as in taming
    (lr = accumulate * n_gpu * batch * base_lr) and rank 0 alone writes files.
    """
    cfg = entry.train
    world, me = world_size(), rank()
    check_realised(entry.name, cfg, world)
    check_batch_fits(cfg.batch_size * cfg.accumulate, len(dataset), "train.batch_size", "training split", world)
    torch.manual_seed(seed)
    model = build_tokenizer(entry)
    init_info = init(model) if init is not None else {}
    model.to(device)
    frozen = _freeze(model, tuple(cfg.freeze))
    perceptual, perceptual_hash = build_perceptual(entry.loss, weights)
    criterion = VQLPIPSWithDiscriminator(entry.loss, perceptual, entry.model.resolution).to(device)
    t = _TokenizerStep(entry, cfg, model, criterion, device, world, len(dataset), Numerics.from_train(cfg, device))
    ckpt = TorchCheckpoint(out_dir / "ckpt.safetensors", device)
    loop = TrainLoop(out_dir, cfg.steps, cfg.ckpt_every, entry.name, ckpt, t.state, lead=me == 0, on_step=on_step,
                     advice="Lower train.base_lr or check the data.")
    start = loop.resume(t.load)
    # each rank reads its batch_size x accumulate slice of the global batch; the step splits it into micro-batches
    sampler = StepBatchSampler(len(dataset), global_batch(cfg), seed, start, cfg.steps, me, world,
                               draw_seeds=cfg.augment != "center")
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_skip_corrupt,
                        **(loader_opts or {"num_workers": cfg.num_workers}))
    model.train()
    criterion.discriminator.train()
    t0 = time.time()
    with t.num.backends():
        loop.run(loader, lambda step, batch: t.step(loop, step, batch))
    if world > 1:
        torch.distributed.barrier()
    loop.finish({"entry": entry.to_dict(), "state_dict": model.state_dict()}, out_dir / "tokenizer.safetensors")
    return {"world_size": world, "steps": cfg.steps, "resumed_from": start, "lr": cfg.lr, **init_info,
            **realised(cfg, world),
            "frozen_params": frozen, "trainable_params": sum(p.numel() for p in t.trainable),
            "train_seconds": round(time.time() - t0, 2),
            "n_corrupt": t.n_corrupt, "weights_training_perceptual": perceptual_hash,
            "perceptual_loss": entry.loss.perceptual, "images": len(dataset),
            "epochs": round(cfg.steps * global_batch(cfg) / len(dataset), 2) if len(dataset) else math.nan,
            **t.num.record(), **({"compile_seconds": loop.compile_seconds()} if t.num.compile else {})}


class PlanMismatchError(RuntimeError):
    """The ranks a stage was started with cannot give its planned global batch."""


def global_batch(cfg: TrainConfig) -> int:
    """The stage's planned global batch: per-GPU batch x GPUs x accumulation."""
    return cfg.batch_size * cfg.n_gpu * cfg.accumulate


def check_realised(name: str, cfg: TrainConfig, world: int) -> None:
    """Refuse, in one line, to train when ranks x per-GPU batch x accumulation is not the planned global batch."""
    got = world * cfg.batch_size * cfg.accumulate
    if got != global_batch(cfg):
        raise PlanMismatchError(
            f"{name}: started with {world} rank(s) x per-GPU batch {cfg.batch_size} x accumulation {cfg.accumulate} "
            f"= {got}, but the plan's global batch is {global_batch(cfg)} ({cfg.n_gpu} GPUs); launch it with "
            f"{cfg.n_gpu} processes (every launcher reads them from the stage), or re-plan with train.n_gpu={world}")


def realised(cfg: TrainConfig, world: int) -> dict[str, Any]:
    """The resources the run realised, as plan.json's `resources` names them (compared field by field in tests)."""
    return {"processes": world, "per_gpu_batch": cfg.batch_size, "accumulate": cfg.accumulate,
            "global_batch": world * cfg.batch_size * cfg.accumulate}


class _TokenizerStep:
    """taming VQModel.training_step: a generator (autoencoder) step, then a discriminator step, per batch."""

    def __init__(self, entry: TokenizerEntry, cfg: TrainConfig, model: torch.nn.Module,
                 criterion: VQLPIPSWithDiscriminator, device: torch.device, world: int, n_images: int,
                 num: Numerics) -> None:
        self.entry, self.cfg, self.model, self.criterion, self.device = entry, cfg, model, criterion, device
        self.world, self.n_images, self.num = world, n_images, num
        self.disc = num.memory_format(criterion.discriminator)
        self.net = num.compiled(num.memory_format(model))
        if world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        if entry.loss.r1_gamma == 0:  # R1 differentiates D twice, which torch.compile does not support
            num.compiled(self.disc)
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.opt_ae = num.optimizer(torch.optim.Adam, self.trainable, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
        self.opt_d = num.optimizer(torch.optim.Adam, self.disc.parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                                   eps=cfg.eps)
        self.scaler_g, self.scaler_d = num.grad_scaler(), num.grad_scaler()  # fp16 only; one per optimiser
        self.hits = torch.zeros(model.codebook_size, dtype=torch.bool)  # codes used this epoch (VQGAN-LC Fig. 3)
        self.n_corrupt = self.n_read = 0
        self._first_step: int | None = None

    def state(self) -> dict[str, Any]:
        """The checkpoint: model, discriminator, both optimisers, and the epoch's code hits."""
        state = {"model": self.model.state_dict(), "discriminator": self.disc.state_dict(),
                 "opt_ae": self.opt_ae.state_dict(), "opt_d": self.opt_d.state_dict(), "hits": self.hits.clone()}
        if self.scaler_g is not None:
            state.update(scaler_g=self.scaler_g.state_dict(), scaler_d=self.scaler_d.state_dict())
        return state

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.disc.load_state_dict(state["discriminator"])
        self.opt_ae.load_state_dict(state["opt_ae"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.scaler_g is not None and "scaler_g" in state:
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])
        if "hits" in state:  # the epoch in progress at the checkpoint keeps the codes it had used
            self.hits = state["hits"].to(torch.bool)

    def _epoch_of(self, step: int) -> int:
        return (step * global_batch(self.cfg)) // max(1, self.n_images)

    def step(self, loop: TrainLoop, step: int, batch: dict[str, Any]) -> None:
        """One batch: skip-corrupt accounting, the lr schedule, then the G and D steps and the log lines."""
        if self._first_step is None:
            self._first_step = step
        batch = finish_batch(batch, self.device)  # on the device; decoder=gpu decodes the JPEGs here
        self.n_corrupt += batch["n_corrupt"]
        self.n_read += len(batch["image"]) if "image" in batch else 0
        if self.n_read == 0 and (step + 1 - self._first_step) * global_batch(self.cfg) >= self.n_images:
            raise NoTrainingImagesError(
                f"no readable training image: all {self.n_images} images of the split failed to decode "
                f"({self.n_corrupt} skipped); {self.entry.name} would train on nothing. Check the dataset files.")
        for opt in (self.opt_ae, self.opt_d):  # the schedule is a function of the step: resume-safe
            for group in opt.param_groups:
                group["lr"] = self.cfg.lr_at(step)
        if "image" not in batch:
            return
        x = self.num.images(batch["image"])  # copied non-blocking by finish_batch, pinned when loader_opts pins it
        micro = self._micro_batches(x)
        outs, terms = self._generator_step(loop, step, micro)
        if self.criterion.disc_factor(step) > 0:
            terms.update(self._discriminator_step(loop, step, micro, [o.recon for o in outs]))
        # every step of the first TRAJECTORY_STEPS (the golden trajectory check), then 20 points per run;
        # 9 significant digits, so the check's bands are not set by the log's rounding
        if step < TRAJECTORY_STEPS or step % max(1, self.cfg.steps // 20) == 0 or step == self.cfg.steps - 1:
            loop.log({"step": step, **{k: float(f"{float(v):.9g}") for k, v in terms.items()}})
        self._log_usage(loop, step, torch.cat([o.indices.detach().flatten() for o in outs]))

    def _micro_batches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """This rank's images as `accumulate` micro-batches of the per-GPU batch (one when accumulate is 1)."""
        a = self.cfg.accumulate
        return [x] if a == 1 else list(x.chunk(a))

    def _no_sync(self, k: int, n: int) -> Any:
        """DDP's no_sync on every micro-batch but the last: gradients are all-reduced once per optimiser step."""
        if k < n - 1 and isinstance(self.net, torch.nn.parallel.DistributedDataParallel):
            return self.net.no_sync()
        return contextlib.nullcontext()

    def _generator_step(self, loop: TrainLoop, step: int,
                        micro: list[torch.Tensor]) -> tuple[list[Any], dict[str, Any]]:
        """One autoencoder step over the micro-batches: each loss / accumulate, backward, one optimiser step.

        The adaptive GAN weight is computed on each micro-batch, as taming does under accumulation (Lightning's
        accumulate_grad_batches runs training_step, hence vqperceptual.py calculate_adaptive_weight, per micro-batch).
        """
        self.opt_ae.zero_grad(set_to_none=True)
        outs, all_terms = [], []
        for k, xk in enumerate(micro):
            with self._no_sync(k, len(micro)):
                with self.num.autocast():
                    out = self.net(xk)
                    if self.scaler_g is not None:  # the adaptive weight differentiates the scaled losses (fp16)
                        self.criterion.grad_scale = self.scaler_g.get_scale()
                    g_loss, terms = self.criterion.generator_loss(xk, out.recon, out.qloss, step,
                                                                  self.model.last_layer())
                loop.check_finite(g_loss, step, "generator loss", terms)
                backward(g_loss, self.scaler_g, len(micro))
            outs.append(out)
            all_terms.append(terms)
        optimizer_step(self.opt_ae, self.scaler_g)
        return outs, _mean_terms(all_terms)

    def _discriminator_step(self, loop: TrainLoop, step: int, micro: list[torch.Tensor],
                            recons: list[torch.Tensor]) -> dict[str, Any]:
        """One discriminator step over the micro-batches; gradients averaged over ranks once, before the step."""
        self.opt_d.zero_grad(set_to_none=True)
        all_terms = []
        for xk, recon in zip(micro, recons, strict=True):
            with self.num.autocast():
                if self.entry.loss.d_recompute_recon:  # taming / VQGAN-LC: D sees the updated generator's output
                    with torch.no_grad():
                        recon = self.net(xk).recon
                d_loss, d_terms = self.criterion.discriminator_loss(xk, recon, step)
            loop.check_finite(d_loss, step, "discriminator loss")
            backward(d_loss, self.scaler_d, len(micro))
            all_terms.append(d_terms)
        # one discriminator for all ranks, as DDP would
        optimizer_step(self.opt_d, self.scaler_d, before_step=lambda: average_gradients(self.disc))
        return _mean_terms(all_terms)

    def _log_usage(self, loop: TrainLoop, step: int, indices: torch.Tensor) -> None:
        """Codebook usage per epoch (VQGAN-LC Fig. 3): the codes hit at least once during the epoch, over K."""
        self.hits[indices.cpu()] = True
        if self._epoch_of(step + 1) != self._epoch_of(step) or step == self.cfg.steps - 1:
            used = any_across_ranks(self.hits)  # codes any rank used (a collective: every rank calls it)
            loop.log({"step": step, "epoch": self._epoch_of(step) + 1,
                      "epoch_usage": round(float(used.float().mean()), 6)})
            self.hits.zero_()


def _mean_terms(terms: list[dict[str, Any]]) -> dict[str, Any]:
    """The logged loss terms of a step: the micro-batches' mean (the one micro-batch's own terms without
    accumulation, so the logged trajectory is unchanged)."""
    if len(terms) == 1:
        return terms[0]
    return {k: sum(float(t[k]) for t in terms) / len(terms) for k in terms[0]}
