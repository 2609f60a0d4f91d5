"""launcher=slurm against a real SLURM (slurm/local_cluster.sh start); skipped with a reason when none answers."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, run_cli


def _slurm_up() -> str | None:
    if shutil.which("sinfo") is None:
        return "no SLURM client (sinfo) on PATH: run slurm/local_cluster.sh start as root"
    res = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if res.returncode != 0 or not set(res.stdout.split()) & {"idle", "mixed", "allocated"}:
        return f"no SLURM controller with a usable node answered: {res.stderr.strip() or res.stdout.strip()}"
    return None


pytestmark = [pytest.mark.slurm, pytest.mark.skipif(_slurm_up() is not None, reason=str(_slurm_up()))]
SMALL = ["suite=recon", "dataset=mini_faces", "launcher=slurm", "launcher.poll_s=1"]


def _args(root: Path, *extra: str) -> list[str]:
    return [f"paths.work_dir={root / 'outputs'}", f"paths.results_dir={root / 'results'}", *extra]


def _manifest(root: Path, suite: str) -> dict:
    return json.loads((root / "outputs" / "manifests" / f"{suite}.json").read_text())


def _scontrol(job_id: str) -> str:
    return subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30).stdout


def _wait(pred, timeout: float, what: str):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if (v := pred()):
            return v
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# The default suite's graph (two train stages in one array, evaluations, the fixed-weights and probe stages),
# shortened so CI can afford it twice: once through SLURM, once in-process as the reference.
SHORT_SMOKE = ["train.steps=12", "scale.eval.max_images=8"]


def test_smoke_suite_through_slurm_gives_the_local_records(tmp_path):
    # this machine's own kernels for both runs (no simulated CPU: only SLURM against in-process is compared here, and
    # ATen's generic kernels would cost CI a minute)
    local = run_cli(_args(tmp_path / "local", *SHORT_SMOKE, "launcher=debug"), cwd=REPO, timeout=900)
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    res = run_cli(_args(tmp_path, *SHORT_SMOKE, "launcher=slurm", "launcher.poll_s=2"), cwd=REPO, timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    ours = pd.read_csv(tmp_path / "results" / "smoke" / "results.csv")
    ref = pd.read_csv(tmp_path / "local" / "results" / "smoke" / "results.csv")
    cols = ["dataset", "method", "setting", "metric", "value", "config_hash", "weights_inception", "image_count"]
    pd.testing.assert_frame_equal(ours[cols], ref[cols])
    man = _manifest(tmp_path, "smoke")
    trains = [e for e in man["stages"] if e["kind"] == "train_tokenizer"]
    assert all(e["array"] for e in trains) and len({e["job_id"].split("_")[0] for e in trains}) == 1  # one array
    assert man["snapshot"] and Path(man["snapshot"], "bench", "run.py").is_file()
    again = run_cli(_args(tmp_path, *SHORT_SMOKE, "launcher=slurm"), cwd=REPO)
    assert "6 already done, 0 to run" in again.stdout and "queued" not in again.stdout


def test_dependencies_cancel_status_and_resubmit(tmp_path):
    res = run_cli(_args(tmp_path, *SMALL, "train.steps=400", "launcher.detach=true"), cwd=REPO)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    entries = {e["kind"]: e for e in _manifest(tmp_path, "recon")["stages"]}
    train_id, eval_id = entries["train_tokenizer"]["job_id"], entries["eval_reconstruction"]["job_id"]
    assert re.search(rf"Dependency=afterok:{train_id}", _scontrol(eval_id)), _scontrol(eval_id)
    subprocess.run(["scancel", train_id], check=True, timeout=30)
    def both_failed() -> str | None:
        out = run_cli(_args(tmp_path, *SMALL, "train.steps=400", "action=status"), cwd=REPO).stdout
        return out if out.count("failed") >= 2 else None
    status = _wait(both_failed, 120, "both stages to show as failed")
    assert "cancelled" in status and "dependency never satisfied" in status
    rerun = run_cli(_args(tmp_path, *SMALL, "train.steps=40"), cwd=REPO, timeout=900)
    assert rerun.returncode == 0 and "2 to run" in rerun.stdout
    final = run_cli(_args(tmp_path, *SMALL, "train.steps=40", "action=status"), cwd=REPO).stdout
    assert final.count("done") == 2
    third = run_cli(_args(tmp_path, *SMALL, "train.steps=40"), cwd=REPO)
    assert "0 to run" in third.stdout


def test_requeue_resumes_from_checkpoint_with_the_same_result(tmp_path):
    common = [*SMALL, "train.steps=70", "train.ckpt_every=10"]  # requeued at step 20+: 50 steps of margin
    ref = run_cli([f"paths.work_dir={tmp_path / 'ref'}", f"paths.results_dir={tmp_path / 'ref_res'}",
                   *common[:2], "launcher=debug", *common[4:]], cwd=REPO, timeout=900)
    assert ref.returncode == 0, ref.stdout[-2000:]
    run_cli(_args(tmp_path, *common, "launcher.detach=true"), cwd=REPO)
    entries = {e["kind"]: e for e in _manifest(tmp_path, "recon")["stages"]}
    train = entries["train_tokenizer"]
    progress = tmp_path / "outputs" / "stages" / train["key"] / "progress.json"
    _wait(lambda: progress.is_file() and json.loads(progress.read_text())["done"] >= 20, 300, "training past step 20")
    subprocess.run(["scontrol", "requeue", train["job_id"]], check=True, timeout=30)
    ckpt = tmp_path / "outputs" / "stages" / train["key"] / "ckpt.safetensors"
    _wait(lambda: ckpt.is_file(), 60, "a checkpoint after the requeue signal")
    done = tmp_path / "outputs" / "stages" / entries["eval_reconstruction"]["key"] / "done.json"
    _wait(done.is_file, 600, "the requeued suite to finish")
    summary = json.loads((tmp_path / "outputs" / "stages" / train["key"] / "done.json").read_text())
    assert summary["resumed_from"] >= 20
    collect = run_cli(_args(tmp_path, *common, "action=collect"), cwd=REPO)
    assert collect.returncode == 0
    ours = pd.read_csv(tmp_path / "results" / "recon" / "results.csv").set_index("metric")["value"]
    want = pd.read_csv(tmp_path / "ref_res" / "recon" / "results.csv").set_index("metric")["value"]
    pd.testing.assert_series_equal(ours.sort_index(), want.sort_index())


def test_failing_stage_shows_its_error_and_keeps_other_results(tmp_path):
    ok = run_cli(_args(tmp_path, *SMALL, "train.steps=4"), cwd=REPO, timeout=900)
    assert ok.returncode == 0
    before = pd.read_csv(tmp_path / "results" / "recon" / "results.csv")
    bad = run_cli(_args(tmp_path, *SMALL, "train.steps=4", "train.base_lr=1e30"), cwd=REPO, timeout=900)
    assert bad.returncode == 1
    status = run_cli(_args(tmp_path, *SMALL, "train.steps=4", "train.base_lr=1e30", "action=status"), cwd=REPO).stdout
    assert "NonFiniteLossError" in status and "failed" in status
    after = pd.read_csv(tmp_path / "results" / "recon" / "results.csv")
    pd.testing.assert_frame_equal(before, after)


def test_two_task_training_stage_runs_ddp_under_srun(tmp_path):
    """train.n_gpu=2 on CPU: two tasks (the stage's own count), torch.distributed from SLURM's environment (gloo),
    rank 0 records the stage."""
    res = run_cli(_args(tmp_path, *SMALL, "train.steps=6", "train.n_gpu=2"),
                  cwd=REPO, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    train = next(e for e in _manifest(tmp_path, "recon")["stages"] if e["kind"] == "train_tokenizer")
    done = json.loads((tmp_path / "outputs" / "stages" / train["key"] / "done.json").read_text())
    assert done["world_size"] == 2
    assert "#SBATCH --ntasks-per-node=2" in Path(train["stdout"]).parent.joinpath(
        f"{train['job_id']}_submission.sh").read_text()


def test_deepspeed_zero2_starts_under_srun(tmp_path):
    """Two tasks started by srun initialise DeepSpeed ZeRO-2 (gloo) from the SLURM environment and agree."""
    import cloudpickle
    import submitit

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ex = submitit.SlurmExecutor(folder=str(tmp_path / "%j"))
    ex.update_parameters(partition="debug", nodes=1, ntasks_per_node=2, cpus_per_task=1, mem="6GB", time=20)
    job = ex.submit(_deepspeed_selftest, 2)
    results = job.results()  # one per task
    assert sorted(r["rank"] for r in results) == [0, 1]
    assert all(r["world_size"] == 2 and r["zero_stage"] == 2 for r in results)
    assert results[0]["losses"] == results[1]["losses"] and len(results[0]["losses"]) == 3


def _deepspeed_selftest(zero_stage: int = 2, steps: int = 3) -> dict:
    """A few ZeRO steps of a tiny model under the SLURM-started process group (gloo on CPU): a cluster check.
    Runs inside the SLURM job (pickled by value: the job need not import this test module).

    Every rank must report the same world size and the same losses: that shows DeepSpeed was started by
    srun with the environment exported here, not through its SSH launcher.
    """
    import deepspeed
    import torch

    from bench.core.distributed import init_from_slurm, rank, world_size

    device = init_from_slurm(use_deepspeed=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    cfg = {"train_micro_batch_size_per_gpu": 4, "gradient_accumulation_steps": 1,
           "optimizer": {"type": "Adam", "params": {"lr": 1e-2, "torch_adam": True}},
           "zero_optimization": {"stage": zero_stage}, "bf16": {"enabled": device.type == "cuda"}}
    engine, *_ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=cfg)
    gen = torch.Generator().manual_seed(rank())
    losses = []
    for _ in range(steps):
        x = torch.randn(4, 16, generator=gen).to(engine.device)
        loss = engine(x.to(next(engine.parameters()).dtype)).float().pow(2).mean()
        engine.backward(loss)
        engine.step()
        mean = loss.detach().clone()
        torch.distributed.all_reduce(mean)
        losses.append(float(mean) / world_size())
    return {"rank": rank(), "world_size": world_size(), "losses": losses, "zero_stage": zero_stage}
