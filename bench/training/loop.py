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
import pickle
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import torch
from tqdm import tqdm

from bench.core.artifacts import (
    artifact_exists,
    artifact_files,
    artifact_path,
    legacy_path,
    load_artifact,
    save_artifact,
)
from bench.core.atomic import write_text_atomic
from bench.core.integrity import describe, move_aside, warn
from bench.training import curves
from bench.training.preempt import active_guard


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN/inf; the message names the step, the terms, and the last good checkpoint."""


def atomic_save(obj: Any, path: Path) -> None:
    """Save as a safetensors + JSON artifact (bench/core/artifacts.py), each file through a temporary one, so a kill
    never leaves half a checkpoint."""
    save_artifact(path, obj)


def line_check(line: str) -> int:
    """The checksum of one log line (crc32 of its UTF-8 text, newline excluded)."""
    return zlib.crc32(line.encode())


def log_gaps(path: Path, index: list[list[int]]) -> tuple[list[str], list[int]]:
    """Match a log against a checkpoint's index ([step, crc32] per line, in order): (the intact lines, in order,
    the steps whose line is torn or missing). The log is complete up to the checkpoint iff no step is missing."""
    lines = path.read_text(errors="replace").splitlines() if path.is_file() else []
    checks = [line_check(line) for line in lines]
    keep, missing, j = [], [], 0
    for step, crc in index:
        k = next((i for i in range(j, len(lines)) if checks[i] == crc), None)
        if k is None:
            missing.append(int(step))
            continue
        keep.append(lines[k])
        j = k + 1
    return keep, missing


def truncate_log(path: Path, step: int, index: list[list[int]] | None = None, name: str = "") -> list[int]:
    """Cut the log back to the checkpoint at `step`, so a resumed run's log equals an uninterrupted one's; returns
    the steps whose line before the checkpoint is torn or missing (each reported in one warning line).

    With the checkpoint's `index` ([step, crc32] of every line written before it) the kept lines are exactly the
    indexed ones that are intact; without one (a checkpoint from before the index) the lines of steps before
    `step`, and a torn line is reported by the step of the line before it."""
    if not path.is_file() and not index:
        return []
    if index is not None:
        keep, missing = log_gaps(path, index)
    else:
        keep, missing, last = [], [], -1
        for line in path.read_text(errors="replace").splitlines():
            try:
                s = json.loads(line)["step"]
            except (ValueError, KeyError, TypeError):  # a line cut short by a kill or damaged
                if line.strip():
                    missing.append(last)
                continue
            if s < step:
                keep.append(line)
                last = s
    if missing:
        warn(f"{path} ({name}): the log lines of steps {sorted(set(missing))} before the checkpoint at step {step} "
             "are torn or missing; they are dropped and the log stays incomplete (the weights are unaffected)")
    write_text_atomic(path, "".join(line + "\n" for line in keep))
    return missing


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
    """A checkpoint as one artifact (out/ckpt.safetensors + out/ckpt.json, bench/core/artifacts.py), written
    atomically and read back without pickle; `path` names either file or the artifact ('ckpt.pt' -> ckpt)."""

    def __init__(self, path: Path, device: torch.device) -> None:
        self.path, self.device = artifact_path(path), device

    def exists(self) -> bool:
        return artifact_exists(self.path)  # a lone file of the pair is a damaged checkpoint, not a missing one

    def load(self) -> dict[str, Any]:
        return load_artifact(self.path, self.device)

    def save(self, state: dict[str, Any]) -> None:
        atomic_save(state, self.path)

    def clear(self) -> None:
        for p in [*artifact_files(self.path), legacy_path(self.path)]:  # the final weights supersede it
            p.unlink(missing_ok=True)


def _store_files(store: CheckpointStore) -> list[Path]:
    """The files (or folder) of a checkpoint store, set aside together when it is unreadable."""
    if isinstance(store, TorchCheckpoint):
        return [*artifact_files(store.path), legacy_path(store.path)]
    return [store.path]


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
        self._index: list[list[int]] = []  # [step, crc32] of every log line so far: saved in each checkpoint
        self.log_gaps: list[int] = []  # steps whose line before the resumed checkpoint was torn or missing

    def resume(self, load: Callable[[dict[str, Any]], None]) -> int:
        """Load the checkpoint if there is one (trainer state, RNG, callbacks); cut the log back to it; the start
        step. An unreadable checkpoint is moved aside with one warning line and the stage starts from step 0."""
        state = self._read_checkpoint() if self.store.exists() else None
        if state is not None:
            load(state)
            if "rng" in state:
                torch.set_rng_state(state["rng"].cpu())  # artifacts load onto the training device
            for cb in self.callbacks:
                if cb.name in state:
                    cb.load_state_dict(state[cb.name])
            self.start = int(state["step"])
            tqdm.write(f"resuming {self.name} from {self.store.path} at step {self.start}/{self.total}")
        index = state.get("log_index") if state is not None else []
        if self.lead:  # lines written after the checkpoint would repeat
            self.log_gaps = truncate_log(self.log_path, self.start, index, self.name)
        self._index = [list(e) for e in index or []]
        if index is None and self.lead:  # a checkpoint from before the index: index the lines kept
            self._index = [[int(json.loads(line)["step"]), line_check(line)]
                           for line in (self.log_path.read_text().splitlines() if self.log_path.is_file() else [])]
        return self.start

    def _read_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint's state, or None (moved aside, one warning line) when it cannot be read."""
        try:
            state = self.store.load()
            if not isinstance(state, dict) or "step" not in state:
                raise ValueError("no 'step' entry")
            return state
        except torch.cuda.OutOfMemoryError:
            raise
        except (RuntimeError, EOFError, OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError,
                zipfile.BadZipFile) as err:
            aside = [move_aside(p) for p in _store_files(self.store) if p.exists()][0]
            warn(f"checkpoint {self.store.path} of {self.name} is unreadable ({describe(err)}); moved to {aside.name}, "
                 "restarting from step 0")
            return None

    def log(self, record: dict[str, Any]) -> None:
        """Append one line to train_log.jsonl (lead rank only); fsynced at the next checkpoint."""
        if self._log is not None:
            line = json.dumps(record)
            self._log.write(line + "\n")
            self._index.append([int(record["step"]), line_check(line)])
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
        state = {"step": step, **self.state(), "rng": torch.get_rng_state(), "log_index": self._index}
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


# --- the one backward / optimiser step of both trainers -----------------------------------------------------------

def backward(loss: torch.Tensor, scaler: torch.amp.GradScaler | None, micro_batches: int = 1) -> None:
    """backward of one of `micro_batches` micro-batches' mean losses (each weighs 1/n of the batch mean, so the
    accumulated gradient is the whole batch's), scaled by the fp16 GradScaler when there is one (bf16 needs none)."""
    loss = loss / micro_batches if micro_batches > 1 else loss
    if scaler is None:
        loss.backward()
    else:
        scaler.scale(loss).backward()


def optimizer_step(opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                   clip: tuple[Iterator[torch.nn.Parameter] | Iterable[torch.nn.Parameter], float] | None = None,
                   before_step: Callable[[], None] | None = None) -> None:
    """The optimiser step after the micro-batches: `before_step` (averaging scaled gradients across ranks commutes
    with the unscale), clipping of the true (unscaled) gradients to clip=(params, max_norm), then the step through
    the GradScaler when there is one (it skips a step with inf gradients)."""
    if before_step:
        before_step()
    if clip is not None:
        if scaler is not None:
            scaler.unscale_(opt)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(clip[0], clip[1])
    if scaler is None:
        opt.step()
        return
    scaler.step(opt)
    scaler.update()
