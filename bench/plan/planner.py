"""Expand a suite config into its stage graph: train tokenizer -> evaluate reconstruction, per (tokenizer, dataset)."""
from __future__ import annotations

import hashlib
import os
from typing import Any

from bench.core.launch_resources import gpu_budget
from bench.core.registry import RegistryError
from bench.core.resources import PKG_PREFIX, resolve
from bench.plan.downstream import plan_downstream, planner_for
from bench.plan.recipes import BatchError, deviation_label, resolve_entry
from bench.stages.base import SPECS, Stage, to_json
from bench.stages.specs import (
    CheckpointSpec,
    DatasetSpec,
    EvalReconstruction,
    MetricWeights,
    ModelFacts,
    TokenizerSpec,
    TrainTokenizer,
)
from models.quantizers.base import precompute_for
from models.registry import PLUGINS, TOKENIZERS, TokenizerEntry, apply_overrides, create_entry, phase1_entry
from models.tokenizer import latent_shape
from tasks.data.registry import DATASETS
from tasks.metrics.protocols import eval_stage_options
from tasks.registry import TASKS

NEEDS_NO_TRAINING = {"model_facts"}
# A suite run: which tokenizer(s), datasets and tasks; optional per-run config changes ({model|loss|train: {..}})
# and the paper row it reproduces ({method, setting}: the keys of results/paper_numbers.csv).
RUN_FIELDS = {"tokenizer", "datasets", "tasks", "overrides", "row", "priors", "prior_overrides", "prior_rows",
              "checkpoint"}  # checkpoint: evaluate fixed weights (a path, or pkg://results/golden/... shipped)


def _tokenizer_overrides(cfg: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """Group overrides (tokenizer.model.*, tokenizer.loss.*) apply to the selected tokenizer; train.* to all."""
    # train.batch_policy is a planning choice (bench/plan/recipes.py fit_batch), not a field of the entry
    over: dict[str, dict[str, Any]] = {"train": {k: v for k, v in (cfg.get("train") or {}).items()
                                                 if k != "batch_policy"}}
    if cfg["tokenizer"]["name"] == name:
        over["model"] = dict(cfg["tokenizer"].get("model") or {})
        over["loss"] = dict(cfg["tokenizer"].get("loss") or {})
    return over


def _dataset_config(cfg: dict[str, Any], name: str, resolution: int) -> DatasetSpec:
    """A dataset's identity and protocol; dataset.* overrides apply to the dataset selected in the group."""
    fields = {"root", "file_list", "on_corrupt", "interpolation", "decoder"}
    given = {k: v for k, v in cfg["dataset"].items() if k in fields and v is not None} \
        if cfg["dataset"]["name"] == name else {}
    return DatasetSpec(name, DATASETS.get(name).version, resolution, **given)


def plan(cfg: dict[str, Any]) -> list[Stage]:
    """All stages of the suite, upstream before downstream, each key listed once."""
    suite = cfg["suite"]
    stages: dict[str, Stage] = {}
    for run in suite["runs"]:
        unknown = set(run) - RUN_FIELDS
        if unknown:
            raise RegistryError(f"suite '{suite['name']}' run has unknown field(s) {sorted(unknown)}; "
                                f"expected {sorted(RUN_FIELDS)}")
        # a glob ('*', 'rqvae_*') picks up newly registered variants (installed plugins too) by itself; entries made on
        # demand by tokenizer=plugin / tokenizer=diffusers_vq ('<kind>:<target>') belong to the run that named them
        names = [n for n in TOKENIZERS.names(run["tokenizer"]) if ":" not in n] \
            if any(ch in run["tokenizer"] for ch in "*?[") else [run["tokenizer"]]
        if not names:
            raise RegistryError(f"suite '{suite['name']}': tokenizer pattern '{run['tokenizer']}' matches nothing")
        for name in names:
            try:
                _plan_run(cfg, {**run, "tokenizer": name}, stages)
            except BatchError as err:  # the GPUs cannot give the paper's batch: one line naming the fix
                raise SystemExit(f"error: {err}") from None
    return list(stages.values())


def _plan_run(cfg: dict[str, Any], run: dict[str, Any], stages: dict[str, Stage]) -> None:
    """Stages of one (tokenizer, datasets, tasks) run, added to `stages` in dependency order."""
    scale = cfg["scale"]
    over = _run_overrides(cfg, run)
    entry = create_entry(run["tokenizer"], scale["name"], over)
    tok_cfg = TokenizerSpec.of(entry)
    ckpt = _checkpoint(cfg, entry.name, run.get("checkpoint"))
    method, setting = _row_labels(cfg, run, entry, ckpt)
    # the metric networks' settings (pretrained, or random with a seed): the stage config key metric_weights
    metric_weights = MetricWeights(scale["metrics"]["weights"], scale["metrics"]["seed"])
    for ds in run["datasets"]:
        data_name = _stand_in(cfg, ds)
        d = _dataset_config(cfg, data_name, entry.model.resolution)
        labels = {"dataset": ds if data_name == ds else f"{ds}~{data_name}", "method": method, "setting": setting,
                  "tokenizer": entry.name}
        if ckpt:  # evaluate released weights: no training stages at all
            _plan_fixed_weights(cfg, run, entry, tok_cfg, ckpt, ds, d, labels, metric_weights, stages)
            continue
        for task_name in [t for t in run["tasks"] if TASKS.get(t).task in NEEDS_NO_TRAINING]:
            task = TASKS.get(task_name)
            facts = Stage(f"{task.task} {entry.name}", ModelFacts(tok_cfg, task.task, task.version), labels)
            stages.setdefault(facts.key, facts)
        if run["tasks"] and all(TASKS.get(t).task in NEEDS_NO_TRAINING for t in run["tasks"]):
            continue  # (tasks: [] trains only: the default suite's trajectory probe)
        if scale["name"] == "paper":  # the paper recipe for this dataset, steps derived from its size
            paper = cfg["suite"].get("recipe") or cfg["suite"].get("paper")
            entry = resolve_entry(run["tokenizer"], "paper", over, to_json(d), paper,
                                  gpu_budget(cfg.get("launcher") or {}),
                                  (cfg.get("train") or {}).get("batch_policy") or "exact")
            tok_cfg = TokenizerSpec.of(entry)
            if (dev := deviation_label(entry)) is not None:  # a rescaled batch: said on every row of the run
                labels = {**labels, "deviation": dev}
        train_key = _plan_training(cfg, entry, ds, data_name, d, labels, metric_weights, stages)
        for task_name in [t for t in run["tasks"] if TASKS.get(t).task not in NEEDS_NO_TRAINING]:
            task = TASKS.get(task_name)
            if planner_for(task.task) is not None:  # a downstream task kind plans itself (bench/plan/downstream.py)
                plan_downstream(cfg, run, entry, task, d, train_key, labels, metric_weights, stages)
                continue
            ev = Stage(f"{task.task} {entry.name} on {ds}",
                       _eval_spec(cfg, task, tok_cfg, d, metric_weights, train=train_key), labels)
            stages.setdefault(ev.key, ev)


def _eval_spec(cfg: dict[str, Any], task: Any, tok: TokenizerSpec, d: DatasetSpec, metric_weights: MetricWeights,
               train: str | None = None, checkpoint: CheckpointSpec | None = None) -> EvalReconstruction:
    """A reconstruction evaluation of trained (`train`) or fixed (`checkpoint`) weights, with its task's metrics."""
    ev = cfg["scale"]["eval"]
    return EvalReconstruction(tok, d, task.task, task.version, tuple(task.metrics), cfg["seed"], metric_weights,
                              ev["max_images"], train=train, checkpoint=checkpoint,
                              **eval_stage_options(ev, paper=cfg["suite"].get("paper")))


def _run_overrides(cfg: dict[str, Any], run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The user's overrides of the run's tokenizer, over the suite run's own changes."""
    over = _tokenizer_overrides(cfg, run["tokenizer"])
    for part, values in (run.get("overrides") or {}).items():  # the suite's own changes, under the user's
        over[part] = {**values, **{k: v for k, v in over.get(part, {}).items() if v is not None}}
    return over


def _row_labels(cfg: dict[str, Any], run: dict[str, Any], entry: TokenizerEntry,
                ckpt: CheckpointSpec | None) -> tuple[str, str]:
    """(method, setting) record labels: the paper row's where the suite gives one, plus the token map at smoke."""
    scale = cfg["scale"]
    h, w, c = latent_shape(entry.model)
    setting = f"{h}x{w}x{c} K={entry.model.n_embed} {scale['name']}"
    row = run.get("row") or {}
    method = row.get("method", entry.name)
    if row.get("setting"):
        setting = row["setting"] if scale["name"] == "paper" else f"{row['setting']} [{setting}]"
    if ckpt:
        setting += f" {'fixed' if run.get('checkpoint') else 'released'}:{ckpt.sha256[:8]}"
    return method, setting


def _plan_fixed_weights(cfg: dict[str, Any], run: dict[str, Any], entry: TokenizerEntry, tok_cfg: TokenizerSpec,
                        ckpt: CheckpointSpec, ds: str, d: DatasetSpec, labels: dict[str, str],
                        metric_weights: MetricWeights, stages: dict[str, Stage]) -> None:
    """Evaluation stages of fixed or released weights (no training)."""
    for task_name in run["tasks"]:
        task = TASKS.get(task_name)
        kind = "fixed" if run.get("checkpoint") else "released"
        if task.task not in ("reconstruction", "model_facts"):
            raise RegistryError(f"task '{task_name}' needs a trained tokenizer; fixed weights evaluate reconstruction "
                                "and model_facts only")
        if task.task == "model_facts":
            ev = Stage(f"{task.task} {entry.name}", ModelFacts(tok_cfg, task.task, task.version), labels)
        else:
            ev = Stage(f"{task.task} {entry.name} ({kind} weights) on {ds}",
                       _eval_spec(cfg, task, tok_cfg, d, metric_weights, checkpoint=ckpt), labels)
        stages.setdefault(ev.key, ev)


def _plan_training(cfg: dict[str, Any], entry: TokenizerEntry, ds: str, data_name: str, d: DatasetSpec,
                   labels: dict[str, str], metric_weights: MetricWeights, stages: dict[str, Stage]) -> str:
    """The quantizer's precompute stage, phase 1 of a two-phase recipe, and the training stage; its key."""
    pre = _precompute(cfg, entry, data_name, metric_weights, stages)
    phase1 = None
    if entry.phase1 is not None:  # two-phase recipe: phase 2 starts from phase 1's weights (not the precomputed)
        first = apply_overrides(phase1_entry(entry), {"train": _tokenizer_overrides(cfg, entry.name)["train"]})
        p1 = Stage(f"train {entry.name} phase 1 on {ds}",
                   TrainTokenizer(TokenizerSpec.of(first), d, cfg["seed"], metric_weights, precomputed=pre), labels)
        stages.setdefault(p1.key, p1)
        pre, phase1 = None, p1.key
    train = Stage(f"train {entry.name} on {ds}" + (" phase 2" if entry.phase1 else ""),
                  TrainTokenizer(TokenizerSpec.of(entry), d, cfg["seed"], metric_weights, precomputed=pre,
                                 phase1=phase1), labels)
    stages.setdefault(train.key, train)
    return train.key


def _precompute(cfg: dict[str, Any], entry: TokenizerEntry, ds: str, metric_weights: MetricWeights,
                stages: dict[str, Stage]) -> str | None:
    """The stage the quantizer needs before training (VQGAN-LC: build_codebook; most: none), added to `stages`;
    its key."""
    pre = precompute_for(entry.model)
    if pre is None:
        return None
    src = _stand_in(cfg, pre.dataset) if pre.dataset else ds
    if src not in DATASETS:
        raise RegistryError(f"{pre.dataset_field}: unknown dataset '{src}'; expected one of {DATASETS.names()}")
    d = _dataset_config(cfg, src, entry.model.resolution)
    spec = SPECS.get(pre.kind)(**pre.config, dataset=d, seed=cfg["seed"], **{pre.networks_key: metric_weights})
    stage = Stage(f"{pre.title} for {entry.name} from {src}", spec,
                  {"dataset": src, "method": entry.name, "setting": pre.setting})
    stages.setdefault(stage.key, stage)
    return stage.key


def _checkpoint(cfg: dict[str, Any], name: str, run_checkpoint: str | None = None) -> CheckpointSpec | None:
    """The weights to evaluate instead of training: the file's identity (sha256) and format.

    From tokenizer.checkpoint=PATH (the selected tokenizer only), or from the suite run's own `checkpoint`.
    A shipped file (pkg://...) keeps its package reference in the stage config, so its key is the same in a
    checkout and in a wheel install; a user's file is recorded by its absolute path.
    """
    tok = cfg["tokenizer"]
    own = tok["name"] == name and name not in PLUGINS  # a plugin's weights come from its builder (diffusers_vq)
    ref = run_checkpoint or (tok.get("checkpoint") if own else None)
    if not ref:
        return None
    path = resolve(ref).resolve()
    if not path.is_file():
        raise RegistryError(f"tokenizer.checkpoint: file not found: {path}. Point it at a released checkpoint "
                            "(taming .ckpt, VQGAN-LC .pth, RQ-VAE stage-1 .pt) or a vqbench tokenizer.safetensors")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    fmt = (tok.get("checkpoint_format") if tok["name"] == name else None) or "auto"
    return CheckpointSpec(ref if str(ref).startswith(PKG_PREFIX) else str(path), digest.hexdigest(), fmt,
                          bool(tok.get("trust_checkpoint")))


def _stand_in(cfg: dict[str, Any], ds: str) -> str:
    """Smoke form of a suite: a dataset with no data configured (no dataset.root, no VQBENCH_* variable) runs on
    its shipped stand-in from scale.dataset_map (ImageNet -> mini_digits, ...); configured data is always used."""
    mapped = (cfg["scale"].get("dataset_map") or {}).get(ds)
    if not mapped:
        return ds
    if cfg["dataset"]["name"] == ds and cfg["dataset"].get("root"):
        return ds
    env = DATASETS.get(ds).env_var if ds in DATASETS else None
    return ds if env and os.environ.get(env) else mapped
