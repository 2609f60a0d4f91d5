"""launcher=slurm: a suite's stage graph queued at once through submitit, one job per stage.

Independent stages with the same resources go out as job arrays (chunked under the cluster's MaxArraySize);
a stage whose inputs are still queued waits on them with `--dependency=afterok:<ids>`. Jobs import the code
from a snapshot of the tracked files taken at submission (submitit RsyncSnapshot), so later edits to the
working tree never change a queued job. Training stages are checkpointable: on SIGUSR2 they save at the next
step boundary and submitit requeues them (up to `max_requeue` times after a time-out).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import submitit

from bench.core.launch_resources import SLURM_DEFAULTS, layout, load_profile, merge_resources
from bench.core.provenance import REPO_ROOT, git_state
from bench.launch.executors import ExecReport, Executor
from bench.launch.placement import check_own_processes, stage_processes
from bench.stages.base import Runtime, Stage, is_done, run_stage, stage_dir, write_json_atomic

FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL",
            "DEADLINE"}


class StageJob(submitit.helpers.Checkpointable):
    """The callable every SLURM job runs: distributed setup, preemption guard, then the stage."""

    def __call__(self, stage: Stage, rt: Runtime) -> dict[str, Any]:
        from bench.core.distributed import init_from_slurm
        from bench.training.preempt import PreemptionGuard

        init_from_slurm()
        with PreemptionGuard(requeue=True):  # SIGUSR2: save, then submitit requeues the job
            return run_stage(stage, rt)


def merged_options(launcher: dict[str, Any]) -> dict[str, Any]:
    """Launcher values over the profile's; `resources` stay as given, merged per kind by resources_for."""
    prof = load_profile(launcher.get("profile"))
    out = {k: v for k, v in prof.items() if k != "resources"}
    out.update({k: v for k, v in launcher.items() if v is not None})
    return out


def resources_for(opts: dict[str, Any], kind: str, processes: int | None = None) -> dict[str, Any]:
    """A job's resources: SLURM's defaults under the kind's (bench/core/launch_resources.py merge_resources, the one
    merge launcher=local and planning use too), and for a stage with its own process count (a training stage's
    train.n_gpu) the nodes and tasks that realise it, the kind's gpus_per_node being the most one node gives (0: a
    CPU cluster, the processes as tasks of one node)."""
    r = {**SLURM_DEFAULTS, **merge_resources(opts, kind)}
    if processes is None:
        return r
    cap = int(r.get("gpus_per_node") or 0)
    nodes, per = layout(processes, cap or None)
    check_own_processes(r, kind, processes, per)
    r.update(nodes=nodes, tasks_per_node=per, gpus_per_node=per if cap else 0)
    return r


def max_array_size() -> int:
    """The cluster's MaxArraySize (array indices must stay below it)."""
    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
        m = re.search(r"MaxArraySize\s*=\s*(\d+)", out)
        return int(m.group(1)) if m else 1001
    except (OSError, subprocess.SubprocessError):
        return 1001


def manifest_path(work_dir: str | Path, suite: str) -> Path:
    return Path(work_dir) / "manifests" / f"{suite}.json"


class SlurmExecutor(Executor):
    """Submits the pending stages with dependencies; waits for them unless `detach=true`."""

    def run(self, stages: list[Stage], rt: Runtime) -> ExecReport:
        if shutil.which("sbatch") is None:
            raise SystemExit("error: launcher=slurm needs SLURM's sbatch on PATH (for a local test cluster run "
                             "slurm/local_cluster.sh start as root)")
        opts = merged_options(self.options)
        suite = self.options.get("suite_name", "suite")
        jobs = self.submit(stages, rt, opts, suite)
        if opts.get("detach"):
            print(f"submitted {len(jobs)} jobs; check with action=status, gather with action=collect")
            return ExecReport(done=[], failed={}, skipped={})
        return self.wait(stages, rt, jobs, float(opts.get("poll_s", 5)))

    def submit(self, stages: list[Stage], rt: Runtime, opts: dict[str, Any], suite: str) -> dict[str, str]:
        """Queue every stage; returns stage key -> SLURM job id, and writes the suite's manifest."""
        folder = Path(rt.work_dir) / "submitit" / "slurm"
        snap_dir = Path(rt.work_dir) / "snapshots" / f"{time.strftime('%Y%m%d-%H%M%S')}-{git_state()['git_sha'][:8]}"
        use_snapshot = opts.get("snapshot", True) and (REPO_ROOT / ".git").exists()
        limit = max_array_size() - 1
        job_of: dict[str, submitit.Job] = {}
        entries: list[dict[str, Any]] = []
        if use_snapshot:
            _warn_untracked()
        snapshot = submitit.helpers.RsyncSnapshot(snapshot_dir=snap_dir, root_dir=REPO_ROOT) if use_snapshot else None
        if snapshot is not None:
            snapshot.__enter__()
        try:
            for level in _levels(stages):
                groups: dict[tuple, list[Stage]] = {}
                for st in level:
                    deps = tuple(sorted(job_of[k].job_id for k in st.inputs if k in job_of))
                    res = resources_for(opts, st.kind, stage_processes(st))
                    groups.setdefault((st.kind, json.dumps(res, sort_keys=True), deps), []).append(st)
                for (kind, res_json, deps), members in groups.items():
                    for i in range(0, len(members), limit):
                        chunk = members[i:i + limit]
                        ex = self._executor(folder, opts, json.loads(res_json), kind, deps)
                        if len(chunk) == 1:
                            submitted = [ex.submit(StageJob(), chunk[0], rt)]
                        else:
                            with ex.batch():
                                submitted = [ex.submit(StageJob(), st, rt) for st in chunk]
                        for st, job in zip(chunk, submitted, strict=True):
                            job_of[st.key] = job
                            entries.append({"key": st.key, "name": st.name, "kind": st.kind, "job_id": job.job_id,
                                            "dependency": list(deps), "stdout": str(job.paths.stdout),
                                            "stderr": str(job.paths.stderr), "array": len(chunk) > 1})
                            print(f"queued {st.name}: job {job.job_id}"
                                  + (f" (afterok:{':'.join(deps)})" if deps else ""))
        finally:
            if snapshot is not None:
                snapshot.__exit__()
        self._write_manifest(rt, suite, entries, str(snap_dir) if use_snapshot else None)
        return {k: j.job_id for k, j in job_of.items()}

    @staticmethod
    def _executor(folder: Path, opts: dict[str, Any], res: dict[str, Any], kind: str,
                  deps: tuple[str, ...]) -> submitit.SlurmExecutor:
        ex = submitit.SlurmExecutor(folder=str(folder / "%j"), max_num_timeout=int(opts.get("max_requeue", 3)))
        extra = dict(opts.get("additional") or {})
        if deps:
            extra["dependency"] = "afterok:" + ":".join(deps)
        gpus = int(res.get("gpus_per_node") or 0)
        params: dict[str, Any] = {
            "job_name": f"vqb-{kind}", "nodes": int(res["nodes"]),
            "ntasks_per_node": int(res.get("tasks_per_node") or max(1, gpus)),  # one task per GPU by default
            "cpus_per_task": int(res["cpus_per_task"]), "mem": f"{int(res['mem_gb'])}GB",
            "time": int(res["timeout_min"]), "array_parallelism": int(opts.get("array_parallelism", 64)),
            "signal_delay_s": int(opts.get("signal_delay_s", 120)), "additional_parameters": extra,
        }
        if gpus:
            params["gpus_per_node"] = gpus
        for key in ("partition", "account", "qos", "constraint", "exclude", "comment"):
            if opts.get(key):
                params[key] = opts[key]
        ex.update_parameters(**params)
        return ex

    @staticmethod
    def _write_manifest(rt: Runtime, suite: str, entries: list[dict[str, Any]], snapshot: str | None) -> None:
        """Keep earlier entries of stages not resubmitted now, so status covers the whole suite."""
        path = manifest_path(rt.work_dir, suite)
        path.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(path.read_text())["stages"] if path.is_file() else []
        new_keys = {e["key"] for e in entries}
        stages = [e for e in old if e["key"] not in new_keys] + entries
        write_json_atomic(path, {"suite": suite, "submitted_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                                 "snapshot": snapshot, **git_state(), "stages": stages})
        print(f"manifest: {path}")

    @staticmethod
    def wait(stages: list[Stage], rt: Runtime, jobs: dict[str, str], poll_s: float) -> ExecReport:
        """Poll stage outputs and squeue until every job has finished one way or another."""
        report, open_keys = ExecReport(), set(jobs)
        while open_keys:
            states = job_states([jobs[k] for k in open_keys])
            for key in list(open_keys):
                st = next(s for s in stages if s.key == key)
                status, detail = stage_status(rt.work_dir, key, states.get(jobs[key]))
                if status == "done":
                    report.done.append(key)
                elif status == "failed":
                    report.failed[key] = detail
                else:
                    continue
                open_keys.discard(key)
                print(f"{status}: {st.name} (job {jobs[key]}){' - ' + detail if detail else ''}")
            if open_keys:
                time.sleep(poll_s)
        return report


def _warn_untracked() -> None:
    """The snapshot holds tracked files only: say which code files the queued jobs will not see."""
    res = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "bench", "models", "tasks"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    files = [f for f in res.stdout.split() if f.endswith((".py", ".yaml"))]
    if files:
        print(f"warning: untracked files are not in the job snapshot (git add them): {', '.join(files)}")


def _levels(stages: list[Stage]) -> list[list[Stage]]:
    """Group pending stages by depth in the graph, so a stage's inputs are always queued before it."""
    depth: dict[str, int] = {}
    keys = {s.key for s in stages}
    for st in stages:  # the planner lists inputs before their consumers
        depth[st.key] = 1 + max((depth[k] for k in st.inputs if k in keys), default=-1)
    levels: list[list[Stage]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for st in stages:
        levels[depth[st.key]].append(st)
    return levels


def job_states(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    """job id -> (SLURM state, reason) from squeue (which lists finished jobs for MinJobAge), then sacct."""
    out: dict[str, tuple[str, str]] = {}
    if not job_ids:
        return out
    try:
        res = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%r", "-j", ",".join(job_ids)],
                             capture_output=True, text=True, timeout=60)
        for line in res.stdout.splitlines():
            jid, state, reason = (line.split("|") + ["", ""])[:3]
            out[jid.strip()] = (state.strip(), reason.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    missing = [j for j in job_ids if j not in out]
    if missing:  # accounting may be disabled; then sacct fails and those jobs stay unknown
        try:
            res = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "JobID,State,Reason", "-j", ",".join(missing)],
                                 capture_output=True, text=True, timeout=60)
            if res.returncode == 0:
                for line in res.stdout.splitlines():
                    jid, state, reason = (line.split("|") + ["", ""])[:3]
                    out[jid] = (state.split()[0] if state else "", reason)
        except (OSError, subprocess.SubprocessError):
            pass
    return out


def stage_status(work_dir: str | Path, key: str, job: tuple[str, str] | None) -> tuple[str, str]:
    """One of done / failed / queued / running / requeued / unknown, with a detail string."""
    d = stage_dir(work_dir, key)
    if is_done(work_dir, key):
        return "done", ""
    if (d / "failed.json").is_file():
        return "failed", json.loads((d / "failed.json").read_text())["error"]
    state, reason = job or ("", "")
    requeued = (d / "ckpt.safetensors").is_file() and state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "RUNNING",
                                                                "CONFIGURING")
    if state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING"):
        if "DependencyNeverSatisfied" in reason:
            return "failed", "an input's job failed or was cancelled (dependency never satisfied)"
        return ("requeued" if requeued else "queued"), reason if reason not in ("None", "") else ""
    if state in ("RUNNING", "COMPLETING"):
        return ("requeued" if requeued else "running"), "resumed from checkpoint" if requeued else ""
    if state in FINISHED:
        why = "dependency never satisfied: an input failed or was cancelled" if "Dependency" in reason else reason
        return "failed", f"job {state.lower()} without a result" + (f" ({why})" if why and why != "None" else "")
    return "unknown", "job not in squeue and accounting unavailable; no result on disk"


def print_status(stages: list[Stage], work_dir: str | Path, suite: str) -> dict[str, str]:
    """action=status: each stage's state with its job id and log, from the manifest, squeue/sacct and outputs."""
    path = manifest_path(work_dir, suite)
    entries = {e["key"]: e for e in json.loads(path.read_text())["stages"]} if path.is_file() else {}
    states = job_states([e["job_id"] for e in entries.values()])
    result = {}
    print(f"{'status':9s} {'job':>10s}  stage / detail / log")
    for st in stages:
        e = entries.get(st.key)
        if e is None:
            status, detail = ("done", "") if is_done(work_dir, st.key) else ("missing", "not submitted")
        else:
            status, detail = stage_status(work_dir, st.key, states.get(e["job_id"]))
        result[st.key] = status
        print(f"{status:9s} {e['job_id'] if e else '-':>10s}  {st.name}" + (f"\n{'':21s}{detail}" if detail else "")
              + (f"\n{'':21s}log: {e['stderr']}" if e else ""))
    return result


from bench.launch.executors import EXECUTORS  # noqa: E402

EXECUTORS.add("slurm", SlurmExecutor)
