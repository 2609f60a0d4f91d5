"""Kill -9 after a checkpoint, resume: train_log.jsonl and epoch_usage equal an uninterrupted run's (issue #12.5)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from bench.core.artifacts import load_artifact
from conftest import REPO

SETUP = """
import dataclasses, os, signal, sys
from pathlib import Path
import torch
sys.path.insert(0, {repo!r})
torch.set_num_threads(1)
from bench.training.tokenizer import train_tokenizer
from models.registry import create_entry
from tasks.data.imagefolder import Protocol
from tasks.data.registry import DATASETS
from bench.core.weights import WeightsSpec

e = create_entry("vqgan_f16_1024", "smoke")
entry = dataclasses.replace(e, train=dataclasses.replace(e.train, steps=8, ckpt_every=4, batch_size=4))
data = DATASETS.get("mini_faces").open("train", Protocol(32))
"""


def _train(out: Path, kill_at: int | None) -> subprocess.CompletedProcess:
    """Train in a fresh process; `kill_at`: SIGKILL itself right after that step (no cleanup, no flush)."""
    kill = f"lambda s: os.kill(os.getpid(), signal.SIGKILL) if s == {kill_at} else None" if kill_at else "None"
    code = SETUP.format(repo=str(REPO)) + textwrap.dedent(f"""
        torch.manual_seed(0)
        train_tokenizer(entry, data, Path({str(out)!r}), seed=0, device=torch.device("cpu"),
                        weights=WeightsSpec("random", 0), on_step={kill})
    """)
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_kill_after_checkpoint_then_resume_gives_the_uninterrupted_log_and_usage(tmp_path: Path):
    full, part = tmp_path / "full", tmp_path / "part"
    res = _train(full, None)
    assert res.returncode == 0, res.stderr[-3000:]
    killed = _train(part, 6)  # checkpoint after step 3 (ckpt_every=4); steps 4..6 ran, then kill -9
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    state = load_artifact(part / "ckpt.safetensors")
    assert state["step"] == 4
    assert len((part / "train_log.jsonl").read_text().splitlines()) >= 4  # lines up to the checkpoint survived
    # the checkpoint's index ([step, crc32] per line) proves every line before it survived the kill
    from bench.training.loop import log_gaps
    assert sorted({s for s, _ in state["log_index"]}) == [0, 1, 2, 3]
    assert log_gaps(part / "train_log.jsonl", state["log_index"])[1] == []
    res = _train(part, None)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resuming" in res.stdout + res.stderr
    a, b = (full / "train_log.jsonl").read_text(), (part / "train_log.jsonl").read_text()
    assert a == b  # every line, epoch_usage included, once and equal
    assert '"epoch_usage"' in a


def test_prior_trainer_checkpoints_on_usr2_and_resumes_to_the_same_log(tmp_path: Path):
    """SIGUSR2 mid-run: the prior trainer saves at the step boundary and hands over; the resumed log is whole."""
    import dataclasses

    import pytest

    from bench.training.preempt import PreemptionGuard
    from bench.training.prior import train_prior
    from models.priors.registry import bind, create_prior

    entry = bind(create_prior("dit_xl2", "smoke"), 64, (4, 4, 1), 8, 0)
    entry = dataclasses.replace(entry, train=dataclasses.replace(entry.train, steps=6, ckpt_every=100, deepspeed="off",
                                                                 batch_size=4))
    x, y = torch.randn(16, 8, 4, 4), torch.zeros(16, dtype=torch.long)
    full, part = tmp_path / "full", tmp_path / "part"
    full.mkdir()
    part.mkdir()
    torch.manual_seed(0)
    train_prior(entry, x, y, full, 0, torch.device("cpu"))

    calls: list[int] = []

    def submitit_like(signum, frame):
        calls.append(signum)
        raise SystemExit(-1)  # submitit requeues and exits here
    old = signal.signal(signal.SIGUSR2, submitit_like)
    sent: list[int] = []

    import bench.training.prior as tp

    orig = tp.write_progress

    def progress(path, done, total, desc):
        orig(path, done, total, desc)
        if done == 3 and not sent:
            sent.append(done)
            os.kill(os.getpid(), signal.SIGUSR2)
    tp.write_progress = progress
    try:
        torch.manual_seed(0)
        with PreemptionGuard(), pytest.raises(SystemExit):
            train_prior(entry, x, y, part, 0, torch.device("cpu"))
    finally:
        tp.write_progress = orig
        signal.signal(signal.SIGUSR2, old)
    assert calls == [signal.SIGUSR2]
    assert load_artifact(part / "ckpt.safetensors")["step"] == 4  # steps 0..3 done
    torch.manual_seed(0)
    summary = train_prior(entry, x, y, part, 0, torch.device("cpu"))
    assert summary["resumed_from"] == 4
    assert (part / "train_log.jsonl").read_text() == (full / "train_log.jsonl").read_text()
