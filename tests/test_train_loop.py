"""The shared trainer skeleton (bench/training/loop.py): a preempted prior run resumes from the preemption
checkpoint."""
from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.core.artifacts import load_artifact
from bench.training.preempt import PreemptionGuard
from bench.training.prior import train_prior
from models.priors.registry import bind, create_prior


class StepCounter:
    """A StepCallback with state (as an EMA of weights would have): counts steps, sends a signal after one."""

    name = "counter"

    def __init__(self, signal_after: int | None = None, signum: int = signal.SIGUSR2) -> None:
        self.steps: list[int] = []
        self.signal_after, self.signum = signal_after, signum

    def after_step(self, step: int) -> None:
        self.steps.append(step)
        if step == self.signal_after:
            os.kill(os.getpid(), self.signum)

    def state_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = list(state["steps"])


def _entry():
    entry = bind(create_prior("gpt_movq", "smoke"), 32, (2, 2, 4), 8, 0)
    return dataclasses.replace(entry, train=dataclasses.replace(entry.train, steps=7, ckpt_every=100, batch_size=4))


@pytest.mark.parametrize("signum", [signal.SIGUSR2, signal.SIGTERM])
def test_preempted_prior_resumes_from_the_preemption_checkpoint(tmp_path: Path, signum: int):
    """A signal after step 2 saves ckpt.safetensors at step 3 (no periodic checkpoint before step 100), hands over or
    exits; the re-run resumes there and ends with the uninterrupted run's weights, log and callback state."""
    entry = _entry()
    x, y = torch.randint(0, 32, (24, 4, 4)), torch.zeros(24, dtype=torch.long)
    full, part = tmp_path / "full", tmp_path / "part"
    full.mkdir()
    part.mkdir()
    whole = StepCounter()
    torch.manual_seed(0)
    train_prior(entry, x, y, full, 0, torch.device("cpu"), callbacks=[whole])

    handed: list[int] = []

    def submitit_like(s, frame):
        handed.append(s)
        raise SystemExit(-1)
    old = signal.signal(signal.SIGUSR2, submitit_like)
    try:
        with PreemptionGuard(), pytest.raises(SystemExit) as exited:
            train_prior(entry, x, y, part, 0, torch.device("cpu"), callbacks=[StepCounter(2, signum)])
    finally:
        signal.signal(signal.SIGUSR2, old)
    if signum == signal.SIGUSR2:
        assert handed == [signal.SIGUSR2]  # submitit's handler requeues
    else:
        assert handed == [] and exited.value.code == 128 + signal.SIGTERM  # SLURM restarts the job
    state = load_artifact(part / "ckpt.safetensors")
    assert state["step"] == 3 and state["counter"] == {"steps": [0, 1, 2]}
    assert not (part / "prior.safetensors").exists()

    resumed = StepCounter()
    summary = train_prior(entry, x, y, part, 0, torch.device("cpu"), callbacks=[resumed])
    assert summary["resumed_from"] == 3 and resumed.steps == whole.steps == list(range(7))
    assert not (part / "ckpt.safetensors").exists()
    a = load_artifact(full / "prior.safetensors")
    b = load_artifact(part / "prior.safetensors")
    assert a["counter"] == b["counter"]  # callback state reaches the final file
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    assert (part / "train_log.jsonl").read_text() == (full / "train_log.jsonl").read_text()
