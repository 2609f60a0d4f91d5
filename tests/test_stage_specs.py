"""The stage key rule, generated from the registries: for every stage kind (bench/stages/specs.py), every field at
its default is absent from the key payload (nested configs too), any other value changes the key, the kind's
KEY_VERSION is in it, and a spec survives plan.json / stage.json. Also: the eval key holds the task's metric list,
inputs are named fields, and the shipped golden file carries the current keys (tools/golden_rekey.py)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pytest

from bench.stages.base import SPECS, StageSpec, stage_from_record, stage_record
from bench.stages.specs import CheckpointSpec, DatasetSpec, EvalReconstruction, MetricWeights, PriorSpec, TokenizerSpec
from conftest import REPO, compose
from models.registry import create_entry

KINDS = SPECS.names()
# suites whose plans hold every stage kind between them (paper scale: the GPUs named, as a user would)
SUITES = [["suite=smoke"], ["suite=smoke_downstream"], ["suite=table1"],
          ["suite=paper/vqganlc_f5", "scale=paper", "launcher.gpus=32"],
          ["suite=paper/vqganlc_f1b", "scale=paper", "launcher.gpus=32"],
          ["suite=paper/seqgan_f8b", "scale=paper", "launcher.gpus=8"]]


def _sample(hint: Any, name: str) -> Any:
    """A value of a field's type (the tokenizer, dataset, prior pieces are real ones)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return _sample(next(a for a in args if a is not type(None)), name)
    if origin is tuple:
        return (_sample(args[0], name),)
    if origin is Literal:
        return args[0]
    if hint is TokenizerSpec:
        return TokenizerSpec.of(create_entry("vqgan_f16_1024", "smoke"))
    if hint is DatasetSpec:
        return DatasetSpec("mini_faces", "v1", 32)
    if hint is MetricWeights:
        return MetricWeights("random", 0)
    if hint is CheckpointSpec:
        return CheckpointSpec("pkg://x.pt", "0" * 64)
    if hint is PriorSpec:
        return PriorSpec("gpt_taming", "smoke", {}, "gpt", {"codebook_size": 64, "latent_shape": [8, 8, 1],
                                                            "latent_dim": 64, "n_classes": 0})
    return {bool: True, int: 3, float: 0.5, str: f"{name}-value", dict: {"a": 1}}.get(hint, f"{name}-any")


def _other(value: Any, hint: Any, name: str) -> Any:
    """A value of the same field that differs from `value`."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return next(a for a in args if a != value)
    if value is None:
        return _sample(hint, name)
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "-other"
    if isinstance(value, tuple):
        return (*value, value[0]) if value else ("x",)
    if isinstance(value, dict):
        return {**value, "other": 1}
    if dataclasses.is_dataclass(value):
        f = dataclasses.fields(value)[0]
        return dataclasses.replace(value, **{f.name: _other(getattr(value, f.name), get_type_hints(type(value))[f.name],
                                                            f.name)})
    raise AssertionError(f"no other value for {name}={value!r}")


def _instance(cls: type[StageSpec]) -> StageSpec:
    """The kind's spec with every required field set and every defaulted field at its default."""
    hints = get_type_hints(cls)
    return cls(**{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(cls)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING})


def _defaults_absent(obj: Any, payload: dict[str, Any], where: str) -> None:
    """Every field of `obj` (a dataclass) at its default is absent from its payload; nested dataclasses too."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            assert f.name not in payload, f"{where}.{f.name} at its default is in the key"
        elif dataclasses.is_dataclass(value):
            _defaults_absent(value, payload[f.name], f"{where}.{f.name}")


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_are_left_out_and_every_other_value_changes_the_key(kind: str):
    cls = SPECS.get(kind)
    spec = _instance(cls)
    payload = spec.key_payload()
    assert payload["version"] == cls.KEY_VERSION and spec.key.startswith(f"{kind}-")
    _defaults_absent(spec, payload, kind)
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        changed = dataclasses.replace(spec, **{f.name: _other(getattr(spec, f.name), hints[f.name], f.name)})
        assert changed.key != spec.key, f"{kind}.{f.name} does not reach the key"
        assert f.name in changed.key_payload()
    for name in cls.INPUTS:  # inputs are named fields holding stage keys
        assert name in {f.name for f in dataclasses.fields(cls)}


def test_nested_tokenizer_fields_follow_the_same_rule():
    """Each model / loss / train field of a tokenizer entry: absent at its default, in the key otherwise."""
    spec = _instance(SPECS.get("train_tokenizer"))
    tok = spec.tokenizer
    _defaults_absent(tok, spec.key_payload()["tokenizer"], "tokenizer")
    for part in ("model", "loss", "train"):
        cfg = getattr(tok, part)
        hints = get_type_hints(type(cfg))
        for f in dataclasses.fields(cfg):
            new = dataclasses.replace(cfg, **{f.name: _other(getattr(cfg, f.name), hints[f.name], f.name)})
            changed = dataclasses.replace(spec, tokenizer=dataclasses.replace(tok, **{part: new}))
            assert changed.key != spec.key, f"tokenizer.{part}.{f.name} does not reach the key"


@pytest.mark.parametrize("kind", KINDS)
def test_key_version_is_in_the_key(kind: str, monkeypatch):
    cls = SPECS.get(kind)
    spec = _instance(cls)
    before = spec.key
    monkeypatch.setattr(cls, "KEY_VERSION", cls.KEY_VERSION + 1)
    assert spec.key != before


def test_a_new_field_with_a_default_keeps_every_key():
    """What _KEY_STABLE and the planners' special cases did by hand: a field added later leaves old keys alone."""
    @dataclasses.dataclass(frozen=True)
    class Grown(EvalReconstruction):
        new_option: str = "off"

    old = _instance(EvalReconstruction)
    grown = Grown(**{f.name: getattr(old, f.name) for f in dataclasses.fields(old)})
    assert grown.new_option == "off" and grown.key == old.key
    assert dataclasses.replace(grown, new_option="on").key != old.key


@pytest.mark.parametrize("over", SUITES, ids=lambda o: o[0].split("=")[1])
def test_specs_survive_plan_json_and_stage_json(over: list[str], tmp_path: Path):
    """spec -> plan.json / stage.json -> spec is the same spec (and key), for every stage of real plans."""
    from bench.plan.planner import plan
    from bench.plan.recipes import write_plan

    stages = plan(compose(over))
    path = write_plan(stages, "paper" if "scale=paper" in over else "smoke", tmp_path)
    for st, rec in zip(stages, json.loads(path.read_text()), strict=True):
        assert rec["key"] == st.key and rec["key_version"] == st.spec.KEY_VERSION
        back = stage_from_record(rec)
        assert back.spec == st.spec and back.key == st.key and back.labels == st.labels
        again = stage_from_record(json.loads(json.dumps(stage_record(st), default=str)))
        assert again.spec == st.spec and again.key == st.key


def test_every_stage_kind_is_planned_by_some_suite():
    """The round trip above covers every registered kind."""
    from bench.plan.planner import plan

    kinds = {st.kind for over in SUITES for st in plan(compose(over))}
    assert kinds == set(KINDS)


def test_inputs_are_named_and_classification_reads_its_splits_by_name():
    from bench.plan.planner import plan

    stages = {st.key: st for st in plan(compose(["suite=smoke_downstream"]))}
    cls = next(st for st in stages.values() if st.kind == "classify_tokens")
    assert stages[cls.spec.train_cache].spec.split == "train" and stages[cls.spec.val_cache].spec.split == "val"
    for st in stages.values():
        assert all(k in stages for k in st.inputs), st.name  # every named input is a planned stage


def test_eval_key_holds_the_task_metric_list(monkeypatch):
    """A metric added to (or dropped from) a task without a version bump gives new eval keys."""
    from bench.plan.planner import plan
    from tasks.registry import TASKS

    cfg = compose(["suite=smoke"])
    before = {st.key for st in plan(cfg) if st.kind == "eval_reconstruction"}
    task = TASKS.get("reconstruction")
    monkeypatch.setitem(TASKS._entries, "reconstruction", dataclasses.replace(task, metrics=task.metrics[:-1]))
    after = {st.key for st in plan(cfg) if st.kind == "eval_reconstruction"}
    assert before and after and not before & after


def test_resources_are_part_of_each_training_spec():
    from bench.plan.planner import plan

    stages = plan(compose(["suite=paper/vqganlc_f1b", "scale=paper", "launcher.gpus=32"]))
    train = next(st for st in stages if st.kind == "train_tokenizer")
    res = train.spec.resources(8)
    t = train.spec.tokenizer.train
    assert res["processes"] * res["per_gpu_batch"] * res["accumulate"] == res["global_batch"]
    assert (res["processes"], res["per_gpu_batch"], res["accumulate"]) == (t.n_gpu, t.batch_size, t.accumulate)
    assert res["nodes"] * res["gpus_per_node"] == res["processes"]


def test_shipped_golden_file_has_the_current_keys():
    """tools/golden_rekey.py --check: every config_hash of results/golden/smoke.csv is the current plan's."""
    res = subprocess.run([sys.executable, str(REPO / "tools" / "golden_rekey.py"), "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
