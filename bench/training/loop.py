"""One trainer skeleton for the tokenizer and prior trainers: resume, preemption checkpoint, progress, NaN guard, log.

A trainer supplies its checkpoint state (`state()` / `load(state)`) and one step (`step_fn(step, batch)`); the loop
owns everything around it, so both trainers resume, save on SIGUSR2/SIGTERM (bench/training/preempt.py), report
progress and keep train_log.jsonl the same way:

    loop = TrainLoop(out, total=cfg.steps, ckpt_every=cfg.ckpt_every, name=entry.name, store=TorchCheckpoint(...))
    start = loop.resume(trainer.load)            # restores RNG and the trainer's state; truncates the log
    loop.run(batches_from(start), step_fn)       # checkpoints every ckpt_every steps and on preemption

Callbacks (`StepCallback`) run after every step and keep their own state in the checkpoint under their name: the
hook for per-step extras such as an EMA of the weights.
"""
from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, Protocol

import torch
from tqdm import tqdm

from bench.core.atomic import atomic_path, write_text_atomic
from bench.training import curves
from bench.training.preempt import active_guard


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN/inf; the message names the step, the terms, and the last good checkpoint."""


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save through a temporary file, so a kill never leaves half a checkpoint."""
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
    """progress.json: steps done of total (read by action=status)."""
    write_text_atomic(path, json.dumps({"done": done, "total": total, "desc": desc}))


class StepCallback(Protocol):
    """Runs after every training step; its state travels in the checkpoint under `name` (e.g. an EMA of weights)."""

    name: str

    def after_step(self, step: int) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class CheckpointStore(Protocol):
    """Where a trainer's checkpoint lives: one torch file, or DeepSpeed's checkpoint folder."""

    path: Path

    def exists(self) -> bool: ...

    def load(self) -> dict[str, Any]: ...

    def save(self, state: dict[str, Any]) -> None: ...

    def clear(self) -> None: ...


class TorchCheckpoint:
    """A checkpoint in one file (out/ckpt.pt), written atomically."""

    def __init__(self, path: Path, device: torch.device) -> None:
        self.path, self.device = path, device

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> dict[str, Any]:
        return torch.load(self.path, map_location=self.device, weights_only=True)

    def save(self, state: dict[str, Any]) -> None:
        atomic_save(state, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)  # the final weights supersede it


class TrainLoop:
    """Runs `step_fn` for steps [start, total) with checkpoints, preemption saves, progress and the log."""

    def __init__(self, out: Path, total: int, ckpt_every: int, name: str, store: CheckpointStore,
                 state: Callable[[], dict[str, Any]], lead: bool = True, callbacks: Iterable[StepCallback] = (),
                 on_step: Callable[[int], None] | None = None, progress: Callable[..., None] = write_progress,
                 progress_every_s: float = 1.0, advice: str = "") -> None:
        self.out, self.total, self.ckpt_every, self.name = out, total, ckpt_every, name
        self.store, self.state, self.lead = store, state, lead
        self.callbacks, self.on_step, self.progress = list(callbacks), on_step, progress
        self.progress_every_s, self.advice = progress_every_s, advice
        self.log_path, self.progress_path = out / "train_log.jsonl", out / "progress.json"
        self.start = 0
        self.step_seconds: list[float] = []  # wall time of each step of this process (the compile-time estimate)
        self._log: IO[str] | None = None

    def resume(self, load: Callable[[dict[str, Any]], None]) -> int:
        """Load the checkpoint if there is one (trainer state, RNG, callbacks); truncate the log to it; the start
        step."""
        if self.store.exists():
            state = self.store.load()
            load(state)
            if "rng" in state:
                torch.set_rng_state(state["rng"])
            for cb in self.callbacks:
                if cb.name in state:
                    cb.load_state_dict(state[cb.name])
            self.start = int(state["step"])
            tqdm.write(f"resuming {self.name} from {self.store.path} at step {self.start}/{self.total}")
        if self.lead:
            truncate_log(self.log_path, self.start)  # lines written after the checkpoint would repeat
        return self.start

    def log(self, record: dict[str, Any]) -> None:
        """Append one line to train_log.jsonl (lead rank only); fsynced at the next checkpoint."""
        if self._log is not None:
            self._log.write(json.dumps(record) + "\n")
            curves.mirror(self.out, record)  # logging.tensorboard / logging.wandb (a no-op when off)

    def check_finite(self, value: torch.Tensor, step: int, what: str, terms: dict[str, Any] | None = None) -> None:
        """The NaN guard: raise NonFiniteLossError naming the step, the terms and the checkpoint to resume from."""
        if torch.isfinite(value):
            return
        where = (f"Last good checkpoint: {self.store.path}; re-running resumes from it" if self.store.exists()
                 else "No checkpoint yet; re-running starts over")
        detail = ("; terms: " + ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())) if terms else ""
        raise NonFiniteLossError(f"non-finite {what} ({float(value)}) at step {step} of {self.name}{detail}. "
                                 f"{where}. {self.advice}".rstrip())

    def save(self, step: int) -> None:
        """Checkpoint `step` (the next step to run): the log up to here is synced first."""
        if not self.lead:
            return
        if self._log is not None:
            sync_log(self._log)  # the log holds every line up to the checkpoint; a resume truncates to it
        state = {"step": step, **self.state(), "rng": torch.get_rng_state()}
        for cb in self.callbacks:
            state[cb.name] = cb.state_dict()
        self.store.save(state)

    def run(self, batches: Iterable[Any], step_fn: Callable[[int, Any], None]) -> None:
        """Steps [start, total): step, callbacks, periodic checkpoint, preemption poll, progress."""
        guard = active_guard()
        bar = tqdm(total=self.total, initial=self.start, desc=f"train {self.name}", unit="step", mininterval=2.0,
                   disable=not self.lead)
        last_write = -math.inf
        self._log = self.log_path.open("a") if self.lead else None
        try:
            for step, batch in zip(range(self.start, self.total), batches, strict=False):
                t = time.perf_counter()
                step_fn(step, batch)
                self.step_seconds.append(time.perf_counter() - t)
                for cb in self.callbacks:
                    cb.after_step(step)
                if self.on_step:
                    self.on_step(step)
                if (step + 1) % self.ckpt_every == 0 and step + 1 < self.total:
                    self.save(step + 1)
                if guard is not None and step + 1 < self.total:
                    guard.poll(functools.partial(self.save, step + 1))  # preempted: checkpoint here, then requeue/exit
                bar.update(1)
                if self.lead and time.time() - last_write >= self.progress_every_s:
                    self.progress(self.progress_path, step + 1, self.total, f"train {self.name}")
                    last_write = time.time()
        finally:
            bar.close()
            if self._log is not None:
                self._log.close()
                self._log = None
                curves.close(self.out)

    def finish(self, final: dict[str, Any], path: Path) -> None:
        """Write the final weights (with each callback's state under its name), mark progress complete and drop the
        checkpoint (lead rank only)."""
        if not self.lead:
            return
        self.progress(self.progress_path, self.total, self.total, f"train {self.name}")
        atomic_save({**final, **{cb.name: cb.state_dict() for cb in self.callbacks}}, path)
        self.store.clear()

    def compile_seconds(self) -> float | None:
        """Estimated torch.compile time: the first step's wall time minus the median of the later steps."""
        if len(self.step_seconds) < 2:
            return None
        rest = sorted(self.step_seconds[1:])
        return round(max(0.0, self.step_seconds[0] - rest[len(rest) // 2]), 3)
