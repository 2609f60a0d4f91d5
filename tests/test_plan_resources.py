"""Resources per training stage, fitted at plan time (bench/plan/recipes.py fit_batch): per-GPU batch x GPUs x
accumulation = the recipe's global batch, exactly, or planning refuses naming the numbers and the fix; every paper
suite's plan.json shows the realised resources at both scales; launchers realise each stage's own count."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.plan.planner import plan
from bench.plan.recipes import plan_records
from conftest import compose
from models.recipes import recipe_for, recipe_paper
from models.registry import create_entry

ROOT = Path(__file__).resolve().parent.parent
PAPER_SUITES = sorted(str(p.relative_to(ROOT / "bench" / "conf" / "suite").with_suffix(""))
                      for p in (ROOT / "bench" / "conf" / "suite" / "paper").glob("*.yaml"))
# the GPUs every paper recipe's layout fits in (VQGAN-LC: 32 V100s); 3 divides none of them (8 x 12, 4 x 12, 32 x 8,
# 4 x 32, 8 x 32), so 3 GPUs can neither give the global batch nor make it up by accumulation
ENOUGH, TOO_FEW = 32, 3


@pytest.fixture(autouse=True)
def _nominal_sizes(monkeypatch):
    for var in ("VQBENCH_IMAGENET", "VQBENCH_FFHQ", "VQBENCH_LSUN_CHURCH", "VQBENCH_LSUN_BEDROOM", "VQBENCH_LSUN_CAT"):
        monkeypatch.delenv(var, raising=False)


def _train_records(overrides: list[str]) -> list[dict]:
    stages = plan(compose(overrides))
    return [r for r in plan_records(stages, "paper") if r["kind"] == "train_tokenizer"]


def _check_exact(records: list[dict]) -> None:
    for r in records:
        d, t = r["derived"], r["config"]["tokenizer"]["train"]
        res = d["resources"]
        assert {"nodes", "gpus_per_node", "processes", "per_gpu_batch", "accumulate", "global_batch"} <= set(res)
        assert res["processes"] * res["per_gpu_batch"] * res["accumulate"] == d["global_batch"]
        assert (res["processes"], res["per_gpu_batch"], res["accumulate"]) == (t["n_gpu"], t["batch_size"],
                                                                              t["accumulate"])
        assert res["nodes"] * res["gpus_per_node"] == res["processes"]
        assert "lr_peak" in d and "steps" in d and "epochs" in d


@pytest.mark.parametrize("suite", PAPER_SUITES)
def test_every_paper_suite_plans_its_papers_batch_with_enough_gpus_and_refuses_with_too_few(suite):
    records = _train_records([f"suite={suite}", "scale=paper", f"launcher.gpus={ENOUGH}"])
    _check_exact(records)
    for r in records:  # the recipe's global batch, exactly
        tok = r["config"]["tokenizer"]
        assert r["derived"]["global_batch"] == tok["recipe"]["global_batch"], r["name"]
    smoke = [r for r in plan_records(plan(compose([f"suite={suite}"])), "smoke") if r["kind"] == "train_tokenizer"]
    _check_exact(smoke)
    assert all(r["derived"]["resources"]["processes"] == 1 and r["derived"]["accumulate"] == 1 for r in smoke)
    if not records:
        return
    with pytest.raises(SystemExit) as err:
        plan(compose([f"suite={suite}", "scale=paper", f"launcher.gpus={TOO_FEW}"]))
    msg = str(err.value)
    assert msg.startswith("error: ") and "\n" not in msg
    assert f"{TOO_FEW} available (launcher.gpus)" in msg and "global batch" in msg
    assert "launcher.gpus=" in msg and "train.batch_policy=rescale" in msg


def test_fewer_gpus_that_divide_the_layout_accumulate_and_the_lr_is_unchanged():
    """VQGAN-LC on 8 GPUs: 8 x 8 x accumulation 4 = 256, the same steps, epochs and lr as on 32."""
    on32 = _train_records(["suite=paper/vqganlc_t2", "scale=paper", "launcher.gpus=32"])[0]
    on8 = _train_records(["suite=paper/vqganlc_t2", "scale=paper", "launcher.gpus=8"])[0]
    r32, r8 = on32["derived"]["resources"], on8["derived"]["resources"]
    assert (r32["processes"], r32["per_gpu_batch"], r32["accumulate"]) == (32, 8, 1)
    assert (r8["processes"], r8["per_gpu_batch"], r8["accumulate"]) == (8, 8, 4)
    for k in ("global_batch", "steps", "epochs", "lr_peak"):
        assert on32["derived"][k] == on8["derived"][k], k


def test_no_gpus_refuses_with_the_papers_count():
    with pytest.raises(SystemExit, match=r"global batch 256 = per-GPU batch 8 x GPUs x accumulation needs 32 GPUs; "
                                         r"0 available \(launcher.gpus\)\. Pass launcher.gpus=32"):
        plan(compose(["suite=paper/vqganlc_t2", "scale=paper", "launcher.gpus=0"]))


def test_rescale_changes_the_batch_with_the_papers_lr_rule_and_labels_every_row():
    """taming's rule is linear in accumulate x n_gpu x batch; VQGAN-LC's script keeps its absolute lr."""
    cfg = ["suite=paper/seqgan_t2", "scale=paper", "launcher.gpus=3", "train.batch_policy=rescale"]
    stages = plan(compose(cfg))
    recs = {r["name"]: r for r in plan_records(stages, "paper") if r["kind"] == "train_tokenizer"}
    vq = recs["train vqgan_f16_1024 on ffhq"]["derived"]
    assert vq["global_batch"] == 36 and vq["deviation"]["global_batch"] == [96, 36]
    assert vq["deviation"]["lr"][1] == pytest.approx(vq["deviation"]["lr"][0] * 36 / 96)
    assert vq["lr_peak"] == pytest.approx(36 * 4.5e-6)
    rq = recs["train rqvae_16x16x4_2048 on ffhq"]["derived"]
    assert rq["global_batch"] == 96 and rq["deviation"]["lr"][0] == rq["deviation"]["lr"][1] == 4e-5
    assert "scheduler.py" in rq["deviation"]["lr_rule"]
    for st in stages:  # every row of a rescaled run says so
        if st.labels.get("tokenizer") in ("vqgan_f16_1024", "rqvae_16x16x4_2048"):
            assert st.labels["deviation"].startswith("batch_policy=rescale: global batch")


def test_explicit_accumulation_that_does_not_divide_is_refused():
    with pytest.raises(SystemExit, match=r"train.accumulate=3 needs a whole number of GPUs"):
        plan(compose(["suite=paper/vqganlc_t2", "scale=paper", "launcher.gpus=32", "train.accumulate=3"]))


def test_paper_plan_json_shows_realised_resources(tmp_path: Path):
    from bench.plan.recipes import write_plan

    stages = plan(compose(["suite=paper/vqganlc_t2", "scale=paper", "launcher.gpus=16"]))
    records = json.loads(write_plan(stages, "paper", tmp_path, per_node=8).read_text())
    res = next(r for r in records if r["kind"] == "train_tokenizer")["derived"]["resources"]
    assert res == {"nodes": 2, "gpus_per_node": 8, "processes": 16, "per_gpu_batch": 8, "accumulate": 2,
                   "global_batch": 256}


def test_launchers_realise_each_stages_own_resources():
    """One plan, stages of 1, 4, 8 and 32 GPUs: local gives each its GPU count; SLURM lays it out on nodes."""
    from bench.launch.placement import placement_for, stage_processes
    from bench.launch.slurm import merged_options, resources_for
    from bench.stages.base import Stage
    from bench.stages.specs import DatasetSpec, MetricWeights, TokenizerSpec, TrainTokenizer

    stages = []
    for n in (1, 4, 8, 32):
        e = create_entry("vqgan_f16_1024", "smoke", {"train": {"n_gpu": n}})
        spec = TrainTokenizer(TokenizerSpec.of(e), DatasetSpec("mini_faces", "1", 32), 0, MetricWeights("random", 0))
        stages.append(Stage(f"t{n}", spec))
    assert [stage_processes(st) for st in stages] == [1, 4, 8, 32]
    local = [placement_for({}, st.kind, "auto", 32, stage_processes(st)) for st in stages]
    assert [(p.gpus, p.tasks) for p in local] == [(1, 1), (4, 4), (8, 8), (32, 32)]
    assert placement_for({}, "train_tokenizer", "cpu", 0, 4).tasks == 4  # gloo processes on a CPU
    opts = merged_options({"profile": "example_gpu", "resources": {}})
    slurm = [resources_for(opts, st.kind, stage_processes(st)) for st in stages]
    assert [(r["nodes"], r["gpus_per_node"], r["tasks_per_node"]) for r in slurm] == [(1, 1, 1), (1, 4, 4), (1, 8, 8),
                                                                                       (4, 8, 8)]
    with pytest.raises(SystemExit, match="tasks_per_node=2"):
        placement_for({"resources": {"train_tokenizer": {"tasks_per_node": 2}}}, "train_tokenizer", "cpu", 0, 1)


def test_recipe_layouts_fit_the_enough_budget():
    """ENOUGH covers every paper's GPU count (the test above would otherwise plan with accumulation)."""
    for family in ("vqgan", "vqgan-lc", "rqvae", "movq", "seqgan"):
        r = recipe_for(recipe_paper(family), "imagenet")
        assert r.n_gpu <= ENOUGH and ENOUGH % r.n_gpu == 0 and r.n_gpu % TOO_FEW != 0


def test_a_two_rank_stage_records_what_its_plan_says(tmp_path: Path):
    """A 2-process gloo stage planned with accumulation (train.n_gpu=2, per-GPU batch 1, accumulation 2), started by
    the local launcher from the stage alone: done.json's realised values equal plan.json's, field by field."""
    from bench.launch.executors import LocalExecutor
    from bench.stages.base import Runtime, stage_dir

    cfg = compose(["suite=smoke", "train.steps=2", "train.batch_size=1", "train.accumulate=2", "train.n_gpu=2",
                   "train.ckpt_every=100"])
    train = next(st for st in plan(cfg) if st.kind == "train_tokenizer")
    planned = next(r for r in plan_records([train], "smoke"))["derived"]
    report = LocalExecutor(max_parallel=1, timeout_min=5).run([train], Runtime(work_dir=str(tmp_path), device="cpu"))
    assert report.ok, report.failed
    done = json.loads((stage_dir(tmp_path, train.key) / "done.json").read_text())
    res = planned["resources"]
    for field in ("processes", "per_gpu_batch", "accumulate", "global_batch"):
        assert done[field] == res[field], (field, done[field], res[field])
    assert (done["world_size"], done["placement"]["world_size"]) == (2, 2)
    assert done["steps"] == planned["steps"] and done["lr"] == planned["lr_peak"]


def test_every_launcher_reads_one_resource_merge():
    """launcher=slurm and launcher=local merge a kind's resources the same way (launcher over profile, kind over
    default in each): a launcher default beats the profile's per-kind value in both (slurm.py used to merge per kind
    across sources, giving the profile's 8 GPUs where local and planning gave 2)."""
    from bench.core.launch_resources import per_node_cap
    from bench.launch.placement import stage_resources
    from bench.launch.slurm import merged_options, resources_for

    launcher = {"name": "slurm", "profile": "example_gpu",
                "resources": {"default": {"gpus_per_node": 2, "mem_gb": None}, "eval_reconstruction": {"mem_gb": 32}}}
    for kind, want in (("train_tokenizer", {"gpus_per_node": 2, "mem_gb": 480, "timeout_min": 4320}),
                       ("eval_reconstruction", {"gpus_per_node": 2, "mem_gb": 32, "timeout_min": 240})):
        slurm = resources_for(merged_options(launcher), kind)
        local = stage_resources(launcher, kind)
        assert {k: slurm[k] for k in want} == {k: local[k] for k in want} == want
    assert per_node_cap(launcher, "train_tokenizer") == 2  # what planning lays a stage out with

