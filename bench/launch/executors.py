"""Executors run a suite's pending stages: `debug` in-process, `local` as submitit local jobs (`slurm`, in
bench/launch/slurm.py, registers itself in the same table).

Every executor implements `Executor.run(stages, runtime) -> ExecReport`; stages arrive in dependency order with
finished ones already removed.
"""
from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bench.core.claims import claim_owner
from bench.core.registry import Registry
from bench.launch.lifeline import die_with, identity
from bench.launch.placement import GpuPool, machine_gpus, placement_for, stage_processes
from bench.stages.base import Runtime, Stage, is_done, run_stage, stage_dir
from bench.training.preempt import PreemptionGuard


@dataclass
class ExecReport:
    """What happened to each stage key: done, failed (with error) or skipped (an input failed)."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


class Executor:
    """Base: subclasses implement run()."""

    def __init__(self, **options) -> None:
        self.options = options

    def run(self, stages: list[Stage], rt: Runtime) -> ExecReport:
        raise NotImplementedError


def _blocked_by(stage: Stage, report: ExecReport) -> str | None:
    bad = [k for k in stage.inputs if k in report.failed or k in report.skipped]
    return f"input {bad[0]} did not finish" if bad else None


class DebugExecutor(Executor):
    """Runs stages one after another in this process (pdb-friendly)."""

    def run(self, stages: list[Stage], rt: Runtime) -> ExecReport:
        report = ExecReport()
        for st in stages:
            if (stage_processes(st) or 1) > 1:  # in-process: one rank; the trainer would refuse the batch anyway
                raise SystemExit(f"error: {st.name} planned {stage_processes(st)} processes; launcher=debug runs one. "
                                 "Use launcher=local or launcher=slurm, or plan it for one GPU")
            if (why := _blocked_by(st, report)) is not None:
                report.skipped[st.key] = why
                continue
            try:
                with PreemptionGuard(requeue=False):  # SIGUSR2/SIGTERM: checkpoint at this step, exit (as on SLURM)
                    run_stage(st, rt)
                report.done.append(st.key)
            except Exception as err:  # keep going: independent stages still produce their results
                text = str(err).strip()
                msg = f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"
                msg += advice(msg, stage_dir(rt.work_dir, st.key))
                report.failed[st.key] = msg
                tqdm.write(f"stage failed: {st.name}: {msg}")
        return report


def local_job(stage: Stage, rt: Runtime, launcher: tuple[int, str | None], master_port: int = 0) -> dict:
    """What a submitit local job runs: the stage, in a process that dies with the launcher (no orphans).

    With several tasks (one per GPU, or gloo processes on a CPU) the tasks form one torch.distributed group:
    rank r drives the r-th GPU of the job's CUDA_VISIBLE_DEVICES (bench/stages/base.py resolve_device)."""
    from bench.core.distributed import export_local_env, init_from_slurm

    die_with(launcher)
    export_local_env(master_port)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        init_from_slurm()  # nccl on GPU, gloo on CPU; also binds this process to cuda:LOCAL_RANK
    with PreemptionGuard(requeue=False):  # not submitit's local "Bypassing signal SIGTERM": checkpoint, then exit
        return run_stage(stage, rt)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _report_owner(st: Stage, rt: Runtime) -> None:
    """Say when another live process (an earlier run, a concurrent one) holds the stage: this run waits for it."""
    owner = claim_owner(stage_dir(rt.work_dir, st.key))
    if owner is not None:
        tqdm.write(f"stage {st.name} is being run by pid {owner.get('pid')} on {owner.get('host')}; "
                   "waiting for it instead of running it twice")


class LocalExecutor(Executor):
    """submitit's local executor: each stage is a subprocess (a process group for multi-task stages).

    Stages that run on the CPU go `max_parallel` at a time. Stages that run on GPUs each get their own GPUs
    (bench/launch/placement.py: per-kind resources, CUDA_VISIBLE_DEVICES set by submitit), so concurrent stages
    never share one; a ready stage waits, in plan order, until enough GPUs are free."""

    def run(self, stages: list[Stage], rt: Runtime) -> ExecReport:
        import submitit

        folder = Path(rt.work_dir) / "submitit" / "%j"
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=int(self.options.get("timeout_min", 240)))
        max_parallel = int(self.options.get("max_parallel", 2))
        machine = machine_gpus(self.options.get("gpus"))
        pool = GpuPool(machine)
        places = {st.key: placement_for(self.options, st.kind, rt.device, len(machine), stage_processes(st))
                  for st in stages}
        report, pending, running = ExecReport(), list(stages), {}
        held: dict[str, tuple[int, ...]] = {}
        bars: dict[str, tqdm] = {}
        overall = tqdm(total=len(stages), desc="stages", unit="stage", position=0)
        try:
            while pending or running:
                gpu_queue_blocked = False  # the first GPU stage that cannot start holds back later ones (no starving)
                for st in list(pending):
                    place = places[st.key]
                    if (why := _blocked_by(st, report)) is not None:
                        report.skipped[st.key] = why
                        pending.remove(st)
                        overall.update(1)
                        continue
                    if not all(is_done(rt.work_dir, k) for k in st.inputs):
                        continue
                    gpus: tuple[int, ...] = ()
                    if place.gpus:
                        got = None if gpu_queue_blocked else pool.take(place.gpus)
                        if got is None:
                            gpu_queue_blocked = True
                            continue
                        gpus = got
                    elif len([k for k in running if k not in held]) >= max_parallel:  # CPU stages only
                        continue
                    _report_owner(st, rt)
                    ex.update_parameters(gpus_per_node=len(gpus), visible_gpus=list(gpus), tasks_per_node=place.tasks)
                    job = ex.submit(local_job, st, rt, identity(), _free_port() if place.tasks > 1 else 0)
                    running[st.key] = (st, job)
                    if gpus:
                        held[st.key] = gpus
                    pending.remove(st)
                    where = f"GPUs {','.join(map(str, gpus))}" if gpus else "CPU"
                    tqdm.write(f"started {st.name} on {where}"
                               + (f", {place.tasks} processes" if place.tasks > 1 else "")
                               + f" (job {job.job_id}, log {job.paths.stderr})")
                for key, (st, job) in list(running.items()):
                    self._show_progress(bars, st, rt, len(bars) + 1)
                    if not job.done():
                        continue
                    del running[key]
                    pool.give_back(held.pop(key, ()))
                    try:
                        job.results()  # every task's outcome: a rank that failed fails the stage
                        report.done.append(key)
                    except Exception as err:
                        msg = _job_error(st, rt, err, Path(job.paths.stderr))
                        report.failed[key] = msg
                        tqdm.write(f"stage failed: {st.name}: {msg} (log: {job.paths.stderr})")
                    overall.update(1)
                    if key in bars:
                        bars.pop(key).close()
                time.sleep(0.5)
        except BaseException:  # Ctrl-C or a crash here: stop the jobs rather than leave them running
            for _, job in running.values():
                job.cancel(check=False)
            raise
        finally:
            for b in bars.values():
                b.close()
            overall.close()
        return report

    @staticmethod
    def _show_progress(bars: dict[str, tqdm], st: Stage, rt: Runtime, position: int) -> None:
        """Mirror the stage's progress.json (written by the job) as a progress bar here."""
        path = stage_dir(rt.work_dir, st.key) / "progress.json"
        try:
            prog = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        if st.key not in bars:
            bars[st.key] = tqdm(total=prog["total"], desc=prog["desc"], unit="step", position=position, leave=False)
        bar = bars[st.key]
        bar.update(prog["done"] - bar.n)


_EXC_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Z]\w*(?:Error|Exception|Exit|Interrupt|Preempted|Warning)?): (.+)$")
_LAUNCHER_ERRORS = ("UncompletedJobError", "FailedJobError", "FailedSubmissionError")


def root_cause(log_text: str) -> str | None:
    """The last 'ExceptionType: message' line of a job log that is not submitit's own wrapper, or None."""
    found = None
    for line in log_text.splitlines():
        m = _EXC_LINE.match(line.strip())
        if m and m.group(1) not in _LAUNCHER_ERRORS and not line.startswith((" ", "\t")):
            found = f"{m.group(1)}: {m.group(2).strip()}"
    return found


def advice(error: str, folder: Path) -> str:
    """What to do about a stage's error, where the error says (disk full, permission denied)."""
    if "No space left" in error or "Errno 28" in error or "file write failed" in error:
        return f"; disk full under {folder}: free space (or set paths.work_dir elsewhere) and re-run to resume"
    if "Permission denied" in error or "Errno 13" in error or "Read-only file system" in error:
        return f"; make {folder} writable (or set paths.work_dir elsewhere) and re-run"
    return ""


def _job_error(st: Stage, rt: Runtime, err: Exception, log: Path | None = None) -> str:
    """The stage's own error: failed.json, else the root cause in the job's log (not submitit's wrapper)."""
    folder = stage_dir(rt.work_dir, st.key)
    failed = folder / "failed.json"
    msg = None
    try:
        msg = json.loads(failed.read_text())["error"] if failed.is_file() else None
    except (OSError, ValueError, KeyError):
        pass
    for path in ([log, log.with_suffix(".out")] if log is not None else []):
        if msg is None:
            try:
                msg = root_cause(path.read_text(errors="replace"))
            except OSError:
                pass
    if msg is None:
        text = str(err).strip()
        msg = root_cause(text) or f"{type(err).__name__}: {text.splitlines()[-1] if text else ''}"
    msg = msg.splitlines()[0] if msg.strip() else msg
    return msg + advice(msg, folder)


EXECUTORS: Registry[type[Executor]] = Registry("launcher")
EXECUTORS.add("debug", DebugExecutor)
EXECUTORS.add("local", LocalExecutor)
