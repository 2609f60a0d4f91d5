"""Gradient accumulation is a real optimiser step over the whole global batch.

The tokenizer normalises with GroupNorm, which is per sample, and every loss term is a batch mean, so the mean of
four micro-batches' gradients is the full batch's gradient: accumulation 4 at batch B equals batch 4B, to float
tolerance. The PatchGAN discriminator's BatchNorm is not per sample (each micro-batch has its own statistics, as in
taming under Lightning's accumulate_grad_batches), and taming's adaptive weight is computed per micro-batch; the
equality therefore uses the StyleGAN discriminator (no BatchNorm) with a fixed adversarial weight (SeQ-GAN's
MaskGIT recipe), with the GAN on from step 0 so the discriminator's accumulated step is compared too. Adam's eps
is 1 here (and lr 0.1, so a step is well above float32 rounding of the weights): with the default 1e-8 Adam's first
step is lr x sign(gradient), and a gradient that is zero up to float rounding (an attention key bias) would take a
full step either way; with eps 1 the step is linear in the gradient, so equal gradients give equal weights.
"""
from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bench.core.artifacts import load_artifact
from bench.core.weights import WeightsSpec
from bench.training.tokenizer import PlanMismatchError, train_tokenizer
from models.registry import build_tokenizer, create_entry
from tasks.data.imagefolder import Protocol
from tasks.data.registry import DATASETS

SPEC = WeightsSpec("random", 0)


def _entry(batch: int, accumulate: int, n_gpu: int = 1, steps: int = 2):
    e = create_entry("vqgan_f16_1024", "smoke")
    return dataclasses.replace(
        e, train=dataclasses.replace(e.train, steps=steps, ckpt_every=100, batch_size=batch, accumulate=accumulate,
                                     n_gpu=n_gpu, num_workers=0, eps=1.0, base_lr=0.1),
        # a narrow StyleGAN discriminator (its 512-wide default costs most of the test's time, and width does not
        # touch what is tested: how micro-batch gradients add up)
        loss=dataclasses.replace(e.loss, disc_start=0, disc_arch="stylegan", disc_max_width=32, adaptive_weight=False,
                                 disc_weight=0.1))


def _train(entry, out: Path) -> dict[str, torch.Tensor]:
    out.mkdir(parents=True, exist_ok=True)
    data = DATASETS.get("mini_faces").open("train", Protocol(32))
    train_tokenizer(entry, data, out, seed=0, device=torch.device("cpu"), weights=SPEC)
    return load_artifact(out / "tokenizer.safetensors")["state_dict"]


def _rel_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """How far two runs' weight changes (from the seeded initial weights) differ, relative to the first's."""
    torch.manual_seed(0)  # the trainer's initial weights
    init = build_tokenizer(_entry(8, 1)).state_dict()
    keys = [k for k in a if a[k].is_floating_point()]
    da = torch.cat([(a[k] - init[k]).flatten() for k in keys])
    db = torch.cat([(b[k] - init[k]).flatten() for k in keys])
    return float((da - db).abs().max() / da.abs().max())


def test_accumulation_four_equals_four_times_the_batch(tmp_path: Path):
    """2 steps at batch 2 x accumulation 4 end with the weights of 2 steps at batch 8 (GAN and D step included)."""
    torch.set_num_threads(1)
    full = _train(_entry(8, 1), tmp_path / "full")
    acc = _train(_entry(2, 4), tmp_path / "acc")
    small = _train(_entry(2, 1), tmp_path / "small")
    assert _rel_diff(full, acc) < 1e-3, _rel_diff(full, acc)
    assert _rel_diff(full, small) > 0.05  # the test can fail: batch 2 without accumulation is another step


def test_a_run_whose_ranks_cannot_give_the_planned_batch_refuses(tmp_path: Path):
    with pytest.raises(PlanMismatchError, match=r"1 rank\(s\) x per-GPU batch 2 x accumulation 2 = 4, but the "
                                                r"plan's global batch is 8 \(2 GPUs\)"):
        _train(_entry(2, 2, n_gpu=2), tmp_path / "bad")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        data = DATASETS.get("mini_faces").open("train", Protocol(32))
        train_tokenizer(_entry(2, 2, n_gpu=2), data, Path(out), seed=0, device=torch.device("cpu"), weights=SPEC)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_with_accumulation_two_equal_one_process_at_four_times_the_batch(tmp_path: Path):
    """2 ranks x batch 2 x accumulation 2 (DDP, no_sync on the first micro-batch) = 1 process at batch 8."""
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(_rank, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    ddp = load_artifact(out / "tokenizer.safetensors")["state_dict"]
    full = _train(_entry(8, 1), tmp_path / "full")
    assert _rel_diff(full, ddp) < 1e-3, _rel_diff(full, ddp)


def test_prior_accumulation_four_equals_the_whole_batch(tmp_path: Path, monkeypatch):
    """The prior trainer (one process, global batch 8): 4 micro-batches of 2 give the step of one batch of 8 (a GPT:
    LayerNorm is per token, no dropout in the smoke entry); Adam's eps 1 for the reason in the module docstring."""
    import functools

    from bench.training.prior import train_prior
    from models.priors.registry import bind, create_prior

    monkeypatch.setattr(torch.optim, "AdamW", functools.partial(torch.optim.AdamW, eps=1.0))
    torch.set_num_threads(1)
    x = torch.randint(0, 32, (16, 4, 4), generator=torch.Generator().manual_seed(0))
    y = torch.zeros(16, dtype=torch.long)

    def run(accumulate: int, batch: int, name: str) -> dict[str, torch.Tensor]:
        e = bind(create_prior("gpt_movq", "smoke"), 32, (2, 2, 4), 8, 0)
        e = dataclasses.replace(e, train=dataclasses.replace(e.train, steps=2, batch_size=batch, accumulate=accumulate,
                                                             lr=0.1, ema_decay=None))
        (tmp_path / name).mkdir()
        summary = train_prior(e, x, y, tmp_path / name, 0, torch.device("cpu"))
        assert (summary["per_gpu_batch"], summary["accumulate"]) == (batch // accumulate, accumulate)
        return load_artifact(tmp_path / name / "prior.safetensors")["state_dict"]

    import bench.training.prior as P

    sizes: list[int] = []
    loss = P._PriorStep.loss
    monkeypatch.setattr(P._PriorStep, "loss", lambda self, loop, step, x, y: sizes.append(len(x)) or
                        loss(self, loop, step, x, y))
    full = run(1, 8, "full")
    acc = run(4, 8, "acc")
    assert sizes == [8, 8] + [2] * 8  # the accumulated run's forward passes see micro-batches
    small = run(1, 2, "small")
    torch.manual_seed(0)  # the trainer's initial weights
    from models.priors.registry import build_prior

    init = build_prior(bind(create_prior("gpt_movq", "smoke"), 32, (2, 2, 4), 8, 0)).state_dict()

    def rel(a, b):
        keys = [k for k in a if a[k].is_floating_point()]
        da = torch.cat([(a[k] - init[k]).flatten() for k in keys])
        db = torch.cat([(b[k] - init[k]).flatten() for k in keys])
        return float((da - db).abs().max() / da.abs().max())

    assert rel(full, acc) < 1e-3, rel(full, acc)
    assert rel(full, small) > 0.05
