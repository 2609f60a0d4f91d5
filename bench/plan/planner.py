"""Expand a suite config into its stage graph: train tokenizer -> evaluate reconstruction, per (tokenizer, dataset)."""
from __future__ import annotations

import hashlib
import os
from typing import Any

from bench.core.launch_resources import gpu_budget
from bench.core.registry import RegistryError
from bench.core.resources import PKG_PREFIX, resolve
from bench.plan.downstream import TASK_PLANNERS, plan_downstream
from bench.plan.recipes import BatchError, deviation_label, resolve_entry
from bench.stages.base import Stage
from models.quantizers.base import precompute_for
from models.registry import PLUGINS, TOKENIZERS, TokenizerEntry, apply_overrides, create_entry, phase1_entry
from models.tokenizer import latent_shape
from tasks.data.registry import DATASETS
from tasks.metrics.protocols import eval_stage_options
from tasks.registry import TASKS

EVAL_KINDS = {"reconstruction": "eval_reconstruction", "model_facts": "model_facts"}
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


def _dataset_config(cfg: dict[str, Any], name: str, resolution: int) -> dict[str, Any]:
    """A dataset's identity and protocol; dataset.* overrides apply to the dataset selected in the group."""
    d = {"name": name, "version": DATASETS.get(name).version, "root": None, "file_list": None,
         "on_corrupt": "skip", "interpolation": "bicubic"}
    if cfg["dataset"]["name"] == name:
        d.update({k: v for k, v in cfg["dataset"].items() if k in d and k != "name"})
        if cfg["dataset"].get("decoder", "pil") != "pil":  # in the key only when not the default (keys unchanged)
            d["decoder"] = cfg["dataset"]["decoder"]
    d["resolution"] = resolution
    return d


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
    tok_cfg = entry.to_dict()
    ckpt = _checkpoint(cfg, entry.name, run.get("checkpoint"))
    method, setting = _row_labels(cfg, run, entry, ckpt)
    # the metric networks' settings (pretrained, or random with a seed): the stage config key metric_weights
    metric_weights = {"mode": scale["metrics"]["weights"], "seed": scale["metrics"]["seed"]}
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
            facts = Stage(EVAL_KINDS[task.task], f"{task.task} {entry.name}",
                          {"tokenizer": tok_cfg, "task": task.task, "task_version": task.version}, labels=labels)
            stages.setdefault(facts.key, facts)
        if run["tasks"] and all(TASKS.get(t).task in NEEDS_NO_TRAINING for t in run["tasks"]):
            continue  # (tasks: [] trains only: the default suite's trajectory probe)
        if scale["name"] == "paper":  # the paper recipe for this dataset, steps derived from its size
            paper = cfg["suite"].get("recipe") or cfg["suite"].get("paper")
            entry = resolve_entry(run["tokenizer"], "paper", over, d, paper, gpu_budget(cfg.get("launcher") or {}),
                                  (cfg.get("train") or {}).get("batch_policy") or "exact")
            tok_cfg = entry.to_dict()
            if (dev := deviation_label(entry)) is not None:  # a rescaled batch: said on every row of the run
                labels = {**labels, "deviation": dev}
        train_key = _plan_training(cfg, entry, ds, data_name, d, labels, metric_weights, stages)
        for task_name in [t for t in run["tasks"] if TASKS.get(t).task not in NEEDS_NO_TRAINING]:
            task = TASKS.get(task_name)
            if task.task in TASK_PLANNERS:  # a downstream task kind plans itself (bench/plan/downstream.py)
                plan_downstream(cfg, run, entry, task, d, train_key, labels, metric_weights, stages)
                continue
            ev = Stage(EVAL_KINDS[task.task], f"{task.task} {entry.name} on {ds}",
                       {"tokenizer": tok_cfg, "dataset": d, "task": task.task, "task_version": task.version,
                        "seed": cfg["seed"], "metric_weights": metric_weights,
                        "max_images": scale["eval"]["max_images"], "num_workers": scale["eval"]["num_workers"],
                        **eval_stage_options(scale["eval"], paper=cfg["suite"].get("paper"))},
                       inputs=(train_key,), labels=labels)
            stages.setdefault(ev.key, ev)


def _run_overrides(cfg: dict[str, Any], run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The user's overrides of the run's tokenizer, over the suite run's own changes."""
    over = _tokenizer_overrides(cfg, run["tokenizer"])
    for part, values in (run.get("overrides") or {}).items():  # the suite's own changes, under the user's
        over[part] = {**values, **{k: v for k, v in over.get(part, {}).items() if v is not None}}
    return over


def _row_labels(cfg: dict[str, Any], run: dict[str, Any], entry: TokenizerEntry,
                ckpt: dict[str, Any] | None) -> tuple[str, str]:
    """(method, setting) record labels: the paper row's where the suite gives one, plus the token map at smoke."""
    scale = cfg["scale"]
    h, w, c = latent_shape(entry.model)
    setting = f"{h}x{w}x{c} K={entry.model.n_embed} {scale['name']}"
    row = run.get("row") or {}
    method = row.get("method", entry.name)
    if row.get("setting"):
        setting = row["setting"] if scale["name"] == "paper" else f"{row['setting']} [{setting}]"
    if ckpt:
        setting += f" {'fixed' if run.get('checkpoint') else 'released'}:{ckpt['sha256'][:8]}"
    return method, setting


def _plan_fixed_weights(cfg: dict[str, Any], run: dict[str, Any], entry: TokenizerEntry, tok_cfg: dict[str, Any],
                        ckpt: dict[str, Any], ds: str, d: dict[str, Any], labels: dict[str, str],
                        metric_weights: dict[str, Any], stages: dict[str, Stage]) -> None:
    """Evaluation stages of fixed or released weights (no training)."""
    scale = cfg["scale"]
    for task_name in run["tasks"]:
        task = TASKS.get(task_name)
        kind = "fixed" if run.get("checkpoint") else "released"
        ev = Stage(EVAL_KINDS[task.task], f"{task.task} {entry.name} ({kind} weights) on {ds}",
                   {"tokenizer": tok_cfg, "checkpoint": ckpt, "dataset": d, "task": task.task,
                    "task_version": task.version, "seed": cfg["seed"], "metric_weights": metric_weights,
                    "max_images": scale["eval"]["max_images"], "num_workers": scale["eval"]["num_workers"],
                    **eval_stage_options(scale["eval"], paper=cfg["suite"].get("paper"))},
                   labels=labels)
        stages.setdefault(ev.key, ev)


def _plan_training(cfg: dict[str, Any], entry: TokenizerEntry, ds: str, data_name: str, d: dict[str, Any],
                   labels: dict[str, str], metric_weights: dict[str, Any], stages: dict[str, Stage]) -> str:
    """The quantizer's precompute stage, phase 1 of a two-phase recipe, and the training stage; its key."""
    inputs = _precompute_inputs(cfg, entry, data_name, metric_weights, stages)
    if entry.phase1 is not None:  # two-phase recipe: phase 2 starts from phase 1's weights
        first = apply_overrides(phase1_entry(entry), {"train": _tokenizer_overrides(cfg, entry.name)["train"]})
        p1 = Stage("train_tokenizer", f"train {entry.name} phase 1 on {ds}",
                   {"tokenizer": first.to_dict(), "dataset": d, "seed": cfg["seed"], "metric_weights": metric_weights},
                   inputs=inputs, labels=labels)
        stages.setdefault(p1.key, p1)
        inputs = (p1.key,)
    train = Stage("train_tokenizer", f"train {entry.name} on {ds}" + (" phase 2" if entry.phase1 else ""),
                  {"tokenizer": entry.to_dict(), "dataset": d, "seed": cfg["seed"], "metric_weights": metric_weights},
                  inputs=inputs, labels=labels)
    stages.setdefault(train.key, train)
    return train.key


def _precompute_inputs(cfg: dict[str, Any], entry: TokenizerEntry, ds: str, metric_weights: dict[str, Any],
                       stages: dict[str, Stage]) -> tuple[str, ...]:
    """The stage the quantizer needs before training (VQGAN-LC: build_codebook; most: none), added to `stages`."""
    pre = precompute_for(entry.model)
    if pre is None:
        return ()
    src = _stand_in(cfg, pre.dataset) if pre.dataset else ds
    if src not in DATASETS:
        raise RegistryError(f"{pre.dataset_field}: unknown dataset '{src}'; expected one of {DATASETS.names()}")
    d = _dataset_config(cfg, src, entry.model.resolution)
    stage = Stage(pre.kind, f"{pre.title} for {entry.name} from {src}",
                  {**pre.config, "dataset": d, "seed": cfg["seed"], pre.networks_key: metric_weights},
                  labels={"dataset": src, "method": entry.name, "setting": pre.setting})
    stages.setdefault(stage.key, stage)
    return (stage.key,)


def _checkpoint(cfg: dict[str, Any], name: str, run_checkpoint: str | None = None) -> dict[str, Any] | None:
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
    out = {"path": ref if str(ref).startswith(PKG_PREFIX) else str(path), "sha256": digest.hexdigest(), "format": fmt}
    return {**out, "trust": True} if tok.get("trust_checkpoint") else out  # only then: other keys stay as they were


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
