"""launcher=local on a multi-GPU workstation: disjoint GPUs per concurrent stage, waiting when none are free,
and a multi-task stage as one torch.distributed process group (two gloo processes on this CPU)."""
from __future__ import annotations

import json
import pickle
from typing import ClassVar

import pytest

from bench.launch import executors
from bench.launch.executors import LocalExecutor
from bench.launch.placement import GpuPool, placement_for
from bench.stages.base import Runtime, Stage, stage_dir
from fake_stages import fake_stage


class _FakeJob:
    """A submitit job that finishes when the test says so."""

    def __init__(self, params: dict) -> None:
        self.params, self.finished = dict(params), False
        self.job_id = str(id(self))
        self.paths = type("P", (), {"stderr": "-"})()

    def done(self) -> bool:
        return self.finished

    def results(self) -> list:
        return [{}]


class _FakeExecutor:
    """Records the parameters (visible GPUs, tasks) each job was submitted with; a test tick finishes jobs."""

    jobs: ClassVar[list[tuple[Stage, _FakeJob]]] = []

    def __init__(self, folder: str) -> None:
        self.params: dict = {}

    def update_parameters(self, **kw) -> None:
        self.params.update(kw)

    def submit(self, fn, stage, rt, *args):
        job = _FakeJob(self.params)
        _FakeExecutor.jobs.append((stage, job))
        return job


def test_concurrent_stages_get_disjoint_gpus_and_wait_in_order(tmp_path, monkeypatch):
    """6 one-GPU stages and a 3-GPU one (5th in plan order) on 4 (fake) GPUs: GPUs held at the same time never overlap,
    the 3-GPU stage waits for free GPUs and later stages do not overtake it; CPU runs never take GPUs."""
    import submitit

    _FakeExecutor.jobs = []
    monkeypatch.setattr(submitit, "LocalExecutor", _FakeExecutor)
    stages = [fake_stage("eval_reconstruction", f"e{i}", i) for i in range(4)]
    stages += [fake_stage("train_tokenizer", "big", 9)] + [fake_stage("eval_reconstruction", f"e{i}", i)
                                                            for i in range(4, 6)]
    ticks: list[list[tuple[str, set[int]]]] = []  # (stage, GPUs) of the jobs running at each tick

    def tick(_s: float) -> None:  # time.sleep of the scheduler loop: record, then finish the oldest job
        running = [(st.name, set(j.params["visible_gpus"])) for st, j in _FakeExecutor.jobs if not j.finished]
        ticks.append(running)
        for st, j in _FakeExecutor.jobs:
            if not j.finished:
                j.finished = True
                (stage_dir(tmp_path, st.key)).mkdir(parents=True, exist_ok=True)
                (stage_dir(tmp_path, st.key) / "done.json").write_text("{}")
                break

    monkeypatch.setattr(executors.time, "sleep", tick)
    opts = {"gpus": [0, 1, 2, 3], "max_parallel": 1,
            "resources": {"train_tokenizer": {"gpus_per_node": 3}}}
    report = LocalExecutor(**opts).run(stages, Runtime(work_dir=str(tmp_path), device="auto"))
    assert report.ok and len(report.done) == 7
    for running in ticks:
        ids = [g for _, gs in running for g in gs]
        assert len(ids) == len(set(ids)) <= 4, running  # disjoint at every moment
    order = [st.name for st, _ in _FakeExecutor.jobs]
    assert order == ["e0", "e1", "e2", "e3", "big", "e4", "e5"]  # plan order: nothing overtakes the 3-GPU stage
    assert any(names == ["big"] for names in ([n for n, _ in r] for r in ticks))  # it ran alone, e4 waited
    big = next(j for st, j in _FakeExecutor.jobs if st.name == "big")
    assert len(big.params["visible_gpus"]) == 3 and big.params["tasks_per_node"] == 3
    assert len(ticks[0]) == 4  # four one-GPU stages at once (max_parallel=1 is for CPU stages)
    _FakeExecutor.jobs = []
    cpu = LocalExecutor(**opts).run([fake_stage("eval_reconstruction", "c", 1)],
                                    Runtime(work_dir=str(tmp_path), device="cpu"))
    assert cpu.ok and _FakeExecutor.jobs[0][1].params["visible_gpus"] == []


def test_placement_rules():
    """A stage cannot ask for more GPUs than the machine has; tasks default to one per GPU; CPU runs take none."""
    opts = {"resources": {"default": {"gpus_per_node": 2}}}
    assert placement_for(opts, "eval_reconstruction", "auto", 4) == placement_for(opts, "x", "cuda", 2)
    assert placement_for(opts, "x", "auto", 4).tasks == 2 and placement_for(opts, "x", "cpu", 4).gpus == 0
    assert placement_for({"resources": {"x": {"tasks_per_node": 2}}}, "x", "cpu", 0).tasks == 2
    with pytest.raises(SystemExit, match="gpus_per_node=1"):
        placement_for(opts, "x", "auto", 1)
    assert placement_for({"profile": "example_gpu"}, "train_tokenizer", "auto", 8).gpus == 8
    pool = GpuPool([0, 1, 2])
    assert pool.take(2) == (0, 1) and pool.take(2) is None
    pool.give_back((0, 1))
    assert pool.take(3) == (0, 1, 2)


def test_local_jobs_see_their_own_gpus(tmp_path):
    """Real submitit local jobs: each stage's process saw CUDA_VISIBLE_DEVICES = the GPU it was given (fake
    ids on this CPU box; device=auto still finds no CUDA and runs on the CPU)."""
    from bench.stages.specs import ModelFacts, TokenizerSpec
    from models.registry import create_entry

    stages = [Stage(f"m{i}", ModelFacts(TokenizerSpec.of(create_entry(name, "smoke")), "model_facts", 1),
                    labels={"method": name}) for i, name in enumerate(("vqgan_f16_1024", "vqgan_f16_16384"))]
    report = LocalExecutor(gpus=[5, 7], max_parallel=1, timeout_min=5).run(stages, Runtime(str(tmp_path)))
    assert report.ok, report.failed
    seen = [json.loads((stage_dir(tmp_path, st.key) / "done.json").read_text())["placement"] for st in stages]
    # both started in the first scheduling round (GPU stages are not held back by max_parallel=1), on 5 and 7
    assert [p["cuda_visible_devices"] for p in seen] == ["5", "7"] and all(p["world_size"] == 1 for p in seen)


def test_two_process_training_stage_through_the_local_launcher(tmp_path):
    """train.n_gpu=2 on a CPU: the stage plans two processes, and the local launcher starts two gloo ranks that train
    it together (batch 2 per rank, global 4); both return world_size 2, rank 0 alone writes the log, weights and
    done.json."""
    from bench.plan.planner import plan
    from conftest import compose

    cfg = compose(["suite=smoke", "train.steps=3", "train.batch_size=2", "train.ckpt_every=100", "train.n_gpu=2"])
    train = next(st for st in plan(cfg) if st.kind == "train_tokenizer")
    rt = Runtime(work_dir=str(tmp_path), device="cpu")
    report = LocalExecutor(max_parallel=1, timeout_min=5).run([train], rt)
    assert report.ok, report.failed
    out = stage_dir(tmp_path, train.key)
    done = json.loads((out / "done.json").read_text())
    assert done["world_size"] == 2 and done["placement"]["world_size"] == 2
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()
             if "epoch" not in line]
    assert steps == [0, 1, 2]  # one writer: two would log every step twice
    results = sorted((tmp_path / "submitit").glob("*/*_result.pkl"))
    assert len(results) == 2  # one per task
    ranks = [pickle.loads(p.read_bytes()) for p in results]
    assert all(r[0] == "success" and r[1]["world_size"] == 2 for r in ranks)
    assert (out / "tokenizer.safetensors").is_file()
