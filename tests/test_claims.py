"""One runner per stage (issue #12.3, #12.4): claims, unique temp names, concurrent runs, a killed launcher."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, RUN, run_cli

HOLD = """
import sys, time
sys.path.insert(0, {repo!r})
from bench.core.claims import claim
with claim({folder!r}):
    print("held", flush=True)
    time.sleep(120)
"""


def _wait_for(cond, timeout: float, what: str) -> None:
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_claim_reports_live_owner_and_dies_with_it(tmp_path: Path):
    from bench.core.claims import claim, claim_owner

    folder = tmp_path / "stage"
    holder = subprocess.Popen([sys.executable, "-c", HOLD.format(repo=str(REPO), folder=str(folder))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        owner = claim_owner(folder)
        assert owner is not None and owner["pid"] == holder.pid
        waited: list[dict] = []
        got = threading.Event()

        def take():
            with claim(folder, on_wait=waited.append, poll_s=0.05):
                got.set()
        t = threading.Thread(target=take, daemon=True)
        t.start()
        time.sleep(0.5)
        assert not got.is_set() and waited and waited[0]["pid"] == holder.pid  # waits, naming the owner
        os.kill(holder.pid, signal.SIGKILL)  # the kernel drops the flock with its owner
        holder.wait()
        t.join(10)
        assert got.is_set()
        assert claim_owner(folder) is None
    finally:
        holder.kill()


def test_concurrent_atomic_writes_never_collide(tmp_path: Path):
    """Many writers of one target: no FileNotFoundError on rename, the file is always one complete write."""
    from bench.core.atomic import write_text_atomic

    target, errors = tmp_path / "tokenizer.pt", []

    def writer(k: int) -> None:
        try:
            for i in range(200):
                write_text_atomic(target, f"{k}:{i}\n" * 100)
        except Exception as err:  # noqa: BLE001
            errors.append(err)
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    lines = target.read_text().splitlines()
    assert len(lines) == 100 and len(set(lines)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["tokenizer.pt"]  # no temp file left behind


def test_success_clears_an_old_failed_json(tmp_path: Path):
    from bench.stages.base import Runtime, run_stage, stage_dir
    from fake_stages import FAKE_RUNNERS as RUNNERS
    from fake_stages import fake_stage

    RUNNERS["_ok"] = lambda stage, out, rt, device: {"fine": True}
    st = fake_stage("_ok", "ok", 1)
    rt = Runtime(work_dir=str(tmp_path))
    out = stage_dir(tmp_path, st.key)
    out.mkdir(parents=True)
    (out / "failed.json").write_text("{}")
    try:
        assert run_stage(st, rt)["fine"]
    finally:
        del RUNNERS["_ok"]
    assert (out / "done.json").is_file() and not (out / "failed.json").exists()


def test_run_stage_reports_a_live_owner_waits_and_never_runs_twice(tmp_path: Path, capsys):
    """A second runner names the live owner, waits, and takes the finished result instead of running again."""
    from bench.stages.base import Runtime, run_stage, stage_dir, write_done
    from fake_stages import FAKE_RUNNERS as RUNNERS
    from fake_stages import fake_stage

    calls = []
    RUNNERS["_count"] = lambda stage, out, rt, device: calls.append(1) or {"ran": True}
    st = fake_stage("_count", "count", 2)
    rt = Runtime(work_dir=str(tmp_path))
    out = stage_dir(tmp_path, st.key)
    holder = subprocess.Popen([sys.executable, "-c", HOLD.format(repo=str(REPO), folder=str(out))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result: list[dict] = []
        t = threading.Thread(target=lambda: result.append(run_stage(st, rt)), daemon=True)
        t.start()
        time.sleep(1.0)
        assert not result and f"being run by pid {holder.pid}" in capsys.readouterr().out
        write_done(out, {"ran": "elsewhere"})  # the owner finishes the stage (done.json lists its outputs), then exits
        holder.kill()
        holder.wait()
        t.join(10)
        assert result == [{"ran": "elsewhere"}] and not calls
    finally:
        holder.kill()
        del RUNNERS["_count"]


TINY = ["suite=recon", "dataset=mini_faces", "train.steps=3", "scale.eval.max_images=8"]


def _train_steps(work: Path) -> list[int]:
    logs = list((work / "stages").glob("train_tokenizer-*/train_log.jsonl"))
    assert len(logs) == 1
    return [json.loads(line)["step"] for line in logs[0].read_text().splitlines() if "epoch" not in line]


def _values(results: Path) -> pd.DataFrame:
    df = pd.read_csv(results / "recon" / "results.csv")
    return df[["dataset", "method", "setting", "metric", "value", "config_hash"]].reset_index(drop=True)


@pytest.mark.slow
def test_two_identical_runs_started_together(tmp_path: Path):
    """Both exit 0, every stage is trained once, and the results equal a single run's."""
    args = TINY + ["launcher=debug", f"paths.work_dir={tmp_path / 'o'}", f"paths.results_dir={tmp_path / 'r'}"]
    procs = [subprocess.Popen(RUN + args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
    assert _train_steps(tmp_path / "o") == [0, 1, 2]  # one runner trained it; the other waited or skipped
    assert not list((tmp_path / "o" / "stages").glob("*/failed.json"))
    assert len(list((tmp_path / "o" / "hydra").glob("*/*"))) == 2  # each run its own Hydra folder
    single = run_cli(TINY + ["launcher=debug", f"paths.work_dir={tmp_path / 'o1'}",
                             f"paths.results_dir={tmp_path / 'r1'}"], cwd=tmp_path)
    assert single.returncode == 0, single.stdout[-3000:]
    pd.testing.assert_frame_equal(_values(tmp_path / "r"), _values(tmp_path / "r1"))


@pytest.mark.slow
def test_parent_kill_leaves_no_orphan_and_rerun_trains_once(tmp_path: Path):
    """kill -9 of bench/run.py alone: its local training job dies too; a re-run then trains the stage once."""
    from bench.core.claims import claim_owner

    tiny = ["suite=recon", "dataset=mini_faces", "train.steps=40", "scale.eval.max_images=8",
            f"paths.work_dir={tmp_path / 'o'}", f"paths.results_dir={tmp_path / 'r'}"]
    parent = subprocess.Popen(RUN + tiny + ["launcher=local"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    stages = tmp_path / "o" / "stages"
    try:
        def training() -> bool:
            found = list(stages.glob("train_tokenizer-*")) if stages.is_dir() else []
            return bool(found) and claim_owner(found[0]) is not None and (found[0] / "progress.json").is_file()
        _wait_for(training, 300, "the training job to start")
        train_dir = next(stages.glob("train_tokenizer-*"))
        job_pid = claim_owner(train_dir)["pid"]
        assert job_pid != parent.pid  # a separate (submitit) process
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _wait_for(lambda: claim_owner(train_dir) is None, 30, "the orphaned job to die")
        _wait_for(lambda: not _running(job_pid), 10, "the job process to exit")
        assert not (train_dir / "done.json").exists()
    finally:
        parent.kill()
    rerun = run_cli(tiny + ["launcher=debug"], cwd=tmp_path)  # the launcher is not part of a stage's key
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    from bench.training.tokenizer import TRAJECTORY_STEPS

    logged = sorted(set(range(TRAJECTORY_STEPS)) | set(range(0, 40, 2)) | {39})  # the trainer's log points
    assert _train_steps(tmp_path / "o") == logged  # each logged step once: no racing runner


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
