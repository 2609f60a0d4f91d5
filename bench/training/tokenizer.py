"""Tokenizer trainer (taming VQModel.training_step): Adam for the autoencoder and the PatchGAN, one step each per batch.

Resumable: the data order is a pure function of (seed, step), and a checkpoint holds model, discriminator,
both optimisers and RNG state, so an interrupted run continues where it stopped and ends with the same weights.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from bench.core.atomic import atomic_path, write_text_atomic
from bench.core.distributed import any_across_ranks, average_gradients, rank, world_size
from bench.training.preempt import active_guard
from models.losses import VQLPIPSWithDiscriminator
from models.registry import TokenizerEntry, build_tokenizer
from tasks.data.imagefolder import collate_skip_corrupt
from models.semantic_loss import build_perceptual
from bench.core.weights import WeightsSpec


# Steps logged one by one at the start of every run: before Adam's sign-sensitive first updates compound,
# these agree across CPUs to ~1e-5, so bench/report/golden.py can hold them to tight bands.
TRAJECTORY_STEPS = 8


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN/inf; the message names the step, the terms, and the last good checkpoint."""


class NoTrainingImagesError(RuntimeError):
    """A whole pass over the training split gave no readable image: nothing would be trained."""


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
            self._perms = {epoch: torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch))}
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


def _atomic_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def truncate_log(path: Path, step: int) -> None:
    """Keep the log lines of steps before `step` (the checkpoint resumed from); later and torn lines go,
    so a resumed run's log equals an uninterrupted one's."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] < step:
                keep.append(line + "\n")
        except (ValueError, KeyError, TypeError):  # a line cut short by a kill
            continue
    write_text_atomic(path, "".join(keep))


def sync_log(log: IO[str]) -> None:
    """Flush and fsync a log, so every line written before a checkpoint survives a kill after it."""
    log.flush()
    os.fsync(log.fileno())


def write_progress(path: Path, done: int, total: int, desc: str) -> None:
    write_text_atomic(path, json.dumps({"done": done, "total": total, "desc": desc}))


def train_tokenizer(entry: TokenizerEntry, dataset: Dataset, out_dir: Path, seed: int, device: torch.device,
                    weights: WeightsSpec, on_step: Callable[[int], None] | None = None,
                    init: Callable[[torch.nn.Module], dict[str, Any]] | None = None,
                    loader_opts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train to entry.train.steps, resuming from out_dir/ckpt.pt; writes out_dir/tokenizer.pt and train_log.jsonl.

    `loader_opts`: DataLoader settings that change speed only (tasks/data/loader.py); default: train.num_workers.

    `init(model)` runs on the freshly built model before any resume: it installs a built codebook (VQGAN-LC)
    or the first phase's weights (SeQ-GAN phase 2). Parameters under `entry.train.freeze` prefixes stay fixed.

    Under torch.distributed (one task per GPU, from SLURM), the batch is per task as in taming
    (lr = accumulate * n_gpu * batch * base_lr) and rank 0 alone writes files.
    """
    cfg = entry.train
    world, me = world_size(), rank()
    if cfg.lr_scaling == "taming" and world != cfg.n_gpu:  # taming main.py scales lr by the real GPU count
        cfg = dataclasses.replace(cfg, n_gpu=world)
    lead = me == 0
    torch.manual_seed(seed)
    model = build_tokenizer(entry)
    init_info = init(model) if init is not None else {}
    model.to(device)
    frozen = _freeze(model, tuple(cfg.freeze))
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    perceptual, perceptual_hash = build_perceptual(entry.loss, weights)
    criterion = VQLPIPSWithDiscriminator(entry.loss, perceptual, entry.model.resolution).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt_ae = torch.optim.Adam(trainable, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    opt_d = torch.optim.Adam(criterion.discriminator.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    ckpt_path, log_path, progress_path = out_dir / "ckpt.pt", out_dir / "train_log.jsonl", out_dir / "progress.json"
    start = 0
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        criterion.discriminator.load_state_dict(state["discriminator"])
        opt_ae.load_state_dict(state["opt_ae"])
        opt_d.load_state_dict(state["opt_d"])
        torch.set_rng_state(state["rng"])
        start = state["step"]
        tqdm.write(f"resuming {entry.name} from {ckpt_path} at step {start}/{cfg.steps}")
    hits = torch.zeros(model.codebook_size, dtype=torch.bool)  # codes used this epoch (VQGAN-LC Fig. 3)
    if start and "hits" in state:  # the epoch in progress at the checkpoint keeps the codes it had used
        hits = state["hits"].to(torch.bool)
    if lead:
        truncate_log(log_path, start)

    def save_ckpt(step: int) -> None:
        if not lead:
            return
        sync_log(log)  # the log holds every line up to the checkpoint; a resume truncates to it
        _atomic_save({"step": step, "model": model.state_dict(), "discriminator": criterion.discriminator.state_dict(),
                      "opt_ae": opt_ae.state_dict(), "opt_d": opt_d.state_dict(), "rng": torch.get_rng_state(),
                      "hits": hits.clone()}, ckpt_path)

    sampler = StepBatchSampler(len(dataset), cfg.batch_size * world, seed, start, cfg.steps, me, world,
                               draw_seeds=cfg.augment != "center")
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_skip_corrupt,
                        **(loader_opts or {"num_workers": cfg.num_workers}))
    model.train()
    criterion.discriminator.train()
    n_corrupt, n_read, last_write, t0 = 0, 0, 0.0, time.time()
    bar = tqdm(total=cfg.steps, initial=start, desc=f"train {entry.name}", unit="step", mininterval=2.0,
               disable=not lead)
    guard = active_guard()
    epoch_of = lambda st: (st * cfg.batch_size * world) // max(1, len(dataset))  # noqa: E731
    with log_path.open("a") if lead else open("/dev/null", "w") as log:
        for step, batch in enumerate(loader, start=start):
            n_corrupt += batch["n_corrupt"]
            n_read += len(batch["image"]) if "image" in batch else 0
            if n_read == 0 and (step + 1 - start) * cfg.batch_size * world >= len(dataset):
                raise NoTrainingImagesError(
                    f"no readable training image: all {len(dataset)} images of the split failed to decode "
                    f"({n_corrupt} skipped); {entry.name} would train on nothing. Check the dataset files.")
            for opt in (opt_ae, opt_d):  # the schedule is a function of the step: resume-safe
                for group in opt.param_groups:
                    group["lr"] = cfg.lr_at(step)
            if "image" in batch:
                x = batch["image"].to(device, non_blocking=True)  # pinned when loader_opts pins it
                out = net(x)
                g_loss, terms = criterion.generator_loss(x, out.recon, out.qloss, step, model.last_layer())
                if not torch.isfinite(g_loss):
                    raise NonFiniteLossError(
                        f"non-finite generator loss ({g_loss.item()}) at step {step} of {entry.name}; terms: "
                        + ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
                        + (f". Last good checkpoint: {ckpt_path}; re-running resumes from it" if ckpt_path.is_file()
                           else ". No checkpoint yet; re-running starts over")
                        + ". Lower train.base_lr or check the data.")
                opt_ae.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_ae.step()
                if criterion.disc_factor(step) > 0:
                    recon = out.recon
                    if entry.loss.d_recompute_recon:  # taming / VQGAN-LC: D sees the updated generator's output
                        with torch.no_grad():
                            recon = net(x).recon
                    d_loss, d_terms = criterion.discriminator_loss(x, recon, step)
                    if not torch.isfinite(d_loss):
                        raise NonFiniteLossError(f"non-finite discriminator loss at step {step} of {entry.name}")
                    opt_d.zero_grad(set_to_none=True)
                    d_loss.backward()
                    average_gradients(criterion.discriminator)  # one discriminator for all ranks, as DDP would
                    opt_d.step()
                    terms.update(d_terms)
                # every step of the first TRAJECTORY_STEPS (the golden trajectory check), then 20 points per run;
                # 9 significant digits, so the check's bands are not set by the log's rounding
                if step < TRAJECTORY_STEPS or step % max(1, cfg.steps // 20) == 0 or step == cfg.steps - 1:
                    log.write(json.dumps({"step": step, **{k: float(f"{float(v):.9g}") for k, v in terms.items()}}) + "\n")
                hits[out.indices.detach().flatten().cpu()] = True
                if epoch_of(step + 1) != epoch_of(step) or step == cfg.steps - 1:
                    used = any_across_ranks(hits)  # codes any rank used (a collective: every rank calls it)
                    log.write(json.dumps({"step": step, "epoch": epoch_of(step) + 1,
                                          "epoch_usage": round(float(used.float().mean()), 6)}) + "\n")
                    hits.zero_()
            if on_step:
                on_step(step)
            if (step + 1) % cfg.ckpt_every == 0 and step + 1 < cfg.steps:
                save_ckpt(step + 1)
            if guard is not None and step + 1 < cfg.steps:
                guard.poll(lambda: save_ckpt(step + 1))  # preempted: checkpoint here, then requeue/exit
            bar.update(1)
            if lead and time.time() - last_write > 1.0:
                write_progress(progress_path, step + 1, cfg.steps, f"train {entry.name}")
                last_write = time.time()
    bar.close()
    if world > 1:
        torch.distributed.barrier()
    if lead:
        write_progress(progress_path, cfg.steps, cfg.steps, f"train {entry.name}")
        _atomic_save({"entry": entry.to_dict(), "state_dict": model.state_dict()}, out_dir / "tokenizer.pt")
        ckpt_path.unlink(missing_ok=True)  # the final weights supersede it
    return {"world_size": world, "steps": cfg.steps, "resumed_from": start, "lr": cfg.lr, **init_info,
            "frozen_params": frozen, "trainable_params": sum(p.numel() for p in trainable),
            "train_seconds": round(time.time() - t0, 2),
            "n_corrupt": n_corrupt, "weights_training_perceptual": perceptual_hash, "perceptual_loss": entry.loss.perceptual, "images": len(dataset),
            "epochs": round(cfg.steps * cfg.batch_size / len(dataset), 2) if len(dataset) else math.nan}
