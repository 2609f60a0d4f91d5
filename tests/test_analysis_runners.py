"""Analyses are registered runners (issue #21 item 5): every analysis task the planner plans has one, the stage
runner has no branch on an analysis name, and a runner's rows come from what it measured."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import torch

from bench.plan.downstream import TASK_PLANNERS, plan_analysis, planner_for
from bench.stages import downstream
from tasks.analysis_runners import ANALYSES, AnalysisContext
from tasks.registry import TASKS


def test_every_planned_analysis_has_a_registered_runner():
    planned = {kind for kind in TASKS.names() if planner_for(kind) is plan_analysis}
    assert planned == set(ANALYSES.names()) == {"token_replacement", "ar_visualization", "masked_reconstruction",
                                                "usage_over_training"}
    assert not planned & set(TASK_PLANNERS.names())  # no planner line per analysis: the runner registers it
    assert planned <= set(TASKS)  # each is a task YAML too


def test_the_stage_runner_names_no_analysis():
    source = inspect.getsource(downstream.run_analysis)
    assert not [name for name in ANALYSES.names() if name in source]


def _ctx(tmp_path: Path, config: dict) -> AnalysisContext:
    def unused(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("this analysis reads no images and no prior")

    return AnalysisContext(config, torch.nn.Identity(), torch.device("cpu"), tmp_path, None,
                           tmp_path / "train_log.jsonl", unused, unused)


def test_usage_over_training_reports_each_logged_epoch(tmp_path: Path):
    log = [{"step": 1, "l1": 0.5}, {"epoch": 0, "epoch_usage": 0.25}, {"epoch": 1, "epoch_usage": 0.5}]
    (tmp_path / "train_log.jsonl").write_text("\n".join(json.dumps(r) for r in log) + "\n")
    res = ANALYSES.get("usage_over_training")(_ctx(tmp_path, {}))
    assert [(r["metric"], r["value"], r["setting_suffix"], r["split"]) for r in res.rows] == [
        ("usage", 0.25, " epoch=0", "train assignments"), ("usage", 0.5, " epoch=1", "train assignments")]
    assert res.protocol == {} and res.hashes == {}


def test_an_unknown_analysis_is_refused_with_the_choices():
    with pytest.raises(KeyError, match="token_replacement"):
        ANALYSES.get("token_replacment")
