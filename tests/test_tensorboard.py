"""logging.tensorboard=true (issue 23.4): every train_log.jsonl line and each evaluation's metrics are in TensorBoard
event files in the stage folder, read back with tensorboard's own EventAccumulator; the logging fields stay out of
the stage keys."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.plan.planner import plan
from bench.stages.base import stage_dir
from conftest import compose

pytest.importorskip("tensorboard")


def _events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _overrides(root: Path) -> list[str]:
    return ["suite=recon", "train.steps=4", "scale.eval.max_images=8", "launcher=debug",
            f"paths.work_dir={root / 'w'}", f"paths.results_dir={root / 'r'}"]


def test_train_lines_and_eval_metrics_reach_tensorboard(tmp_path) -> None:
    from bench.suite import run_suite

    cfg = compose([*_overrides(tmp_path), "logging.tensorboard=true"])
    assert run_suite(cfg) == 0
    stages = {s.kind: s for s in plan(cfg)}
    train = stage_dir(cfg["paths"]["work_dir"], stages["train_tokenizer"].key)
    lines = [json.loads(x) for x in (train / "train_log.jsonl").read_text().splitlines()]
    events = _events(train / "tensorboard")
    n = 0
    for line in lines:
        for k, v in line.items():
            if k != "step" and isinstance(v, int | float) and not isinstance(v, bool):
                assert (line["step"], pytest.approx(v, rel=1e-6)) in events[f"train/{k}"], (k, line)
                n += 1
    assert n >= 4 and len(lines) >= 1
    ev = stage_dir(cfg["paths"]["work_dir"], stages["eval_reconstruction"].key)
    records = [json.loads(x) for x in (ev / "records.jsonl").read_text().splitlines()]
    got = _events(ev / "tensorboard")
    for r in records:
        if isinstance(r["value"], float) and math.isfinite(r["value"]):
            assert got[f"eval/{r['metric']}"][0][1] == pytest.approx(r["value"], rel=1e-6)


def test_logging_fields_do_not_change_stage_keys(tmp_path) -> None:
    keys = [s.key for s in plan(compose(_overrides(tmp_path)))]
    assert keys == [s.key for s in plan(compose([*_overrides(tmp_path), "logging.tensorboard=true",
                                                 "logging.wandb=offline"]))]
