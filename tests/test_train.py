"""Trainer: an interrupted run resumes from its checkpoint and ends with the same weights; NaN losses stop cleanly."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from bench.core.artifacts import load_artifact
from bench.core.weights import WeightsSpec
from bench.training.tokenizer import NonFiniteLossError, train_tokenizer
from models.registry import create_entry
from tasks.data.imagefolder import Protocol
from tasks.data.registry import DATASETS
from tasks.data.sampling import StepBatchSampler


def _entry(steps=6):
    e = create_entry("vqgan_f16_1024", "smoke")
    return dataclasses.replace(e, train=dataclasses.replace(e.train, steps=steps, ckpt_every=2, batch_size=4),
                               loss=dataclasses.replace(e.loss, disc_start=3))


def test_sampler_order_is_a_function_of_step():
    a = StepBatchSampler(10, 4, seed=1, start_step=0, end_step=6)
    b = StepBatchSampler(10, 4, seed=1, start_step=3, end_step=6)
    assert list(a)[3:] == list(b)
    flat = [i for batch in list(a)[:5] for i in batch][:20]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))  # epochs are permutations


def test_interrupted_training_resumes_to_identical_weights(tmp_path: Path):
    data = DATASETS.get("mini_faces").open("train", Protocol(32))
    spec, dev = WeightsSpec("random", 0), torch.device("cpu")
    full = tmp_path / "full"
    full.mkdir()
    train_tokenizer(_entry(), data, full, seed=0, device=dev, weights=spec)

    part = tmp_path / "part"
    part.mkdir()

    def boom(step):
        if step == 4:
            raise KeyboardInterrupt  # the run dies after step 4; the last checkpoint is at step 4
    with pytest.raises(KeyboardInterrupt):
        train_tokenizer(_entry(), data, part, seed=0, device=dev, weights=spec, on_step=boom)
    assert (part / "ckpt.safetensors").is_file() and not (part / "tokenizer.safetensors").exists()
    summary = train_tokenizer(_entry(), data, part, seed=0, device=dev, weights=spec)
    assert summary["resumed_from"] == 4
    a = load_artifact(full / "tokenizer.safetensors")["state_dict"]
    b = load_artifact(part / "tokenizer.safetensors")["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_nan_loss_raises_with_step_and_terms(tmp_path: Path, monkeypatch):
    from models import losses

    orig = losses.VQLPIPSWithDiscriminator.generator_loss

    def nan_after_two(self, x, recon, qloss, step, last_layer):
        total, terms = orig(self, x, recon, qloss, step, last_layer)
        return (total * float("nan"), terms) if step >= 2 else (total, terms)
    monkeypatch.setattr(losses.VQLPIPSWithDiscriminator, "generator_loss", nan_after_two)
    data = DATASETS.get("mini_faces").open("train", Protocol(32))
    with pytest.raises(NonFiniteLossError, match=r"at step 2 .*l1=.*Last good checkpoint: .*ckpt.safetensors"):
        train_tokenizer(_entry(), data, tmp_path, seed=0, device=torch.device("cpu"), weights=WeightsSpec("random", 0))


def test_usr2_saves_at_step_boundary_then_hands_over_to_submitit(tmp_path: Path):
    """SIGUSR2 mid-run: the guard saves a checkpoint for the next step, then calls the previous (submitit) handler."""
    import os
    import signal

    from bench.training.preempt import PreemptionGuard

    calls = []

    def submitit_like(signum, frame):
        calls.append(signum)
        raise SystemExit(-1)  # submitit requeues and exits here
    signal.signal(signal.SIGUSR2, submitit_like)
    data = DATASETS.get("mini_faces").open("train", Protocol(32))

    def send(step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGUSR2)
    try:
        with PreemptionGuard(), pytest.raises(SystemExit):
            train_tokenizer(_entry(), data, tmp_path, seed=0, device=torch.device("cpu"),
                            weights=WeightsSpec("random", 0), on_step=send)
    finally:
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    assert calls == [signal.SIGUSR2]
    state = load_artifact(tmp_path / "ckpt.safetensors")
    assert state["step"] == 3  # steps 0..2 done; the resumed run starts at step 3
    assert not (tmp_path / "tokenizer.safetensors").exists()
