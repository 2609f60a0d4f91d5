"""Expand a suite config into its stage graph: train tokenizer -> evaluate reconstruction, per (tokenizer, dataset)."""
from __future__ import annotations

from typing import Any

from bench.registry import RegistryError
from bench.stages import Stage
from models.registry import TOKENIZERS, create_entry, latent_channels
from tasks.data.registry import DATASETS
from tasks.registry import TASKS

EVAL_KINDS = {"reconstruction": "eval_reconstruction"}


def _tokenizer_overrides(cfg: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """Group overrides (tokenizer.model.*, tokenizer.loss.*) apply to the selected tokenizer; train.* to all."""
    over: dict[str, dict[str, Any]] = {"train": dict(cfg.get("train") or {})}
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
    d["resolution"] = resolution
    return d


def plan(cfg: dict[str, Any]) -> list[Stage]:
    """All stages of the suite, upstream before downstream, each key listed once."""
    suite, scale = cfg["suite"], cfg["scale"]
    stages: dict[str, Stage] = {}
    for run in suite["runs"]:
        unknown = set(run) - {"tokenizer", "datasets", "tasks"}
        if unknown:
            raise RegistryError(f"suite '{suite['name']}' run has unknown field(s) {sorted(unknown)}; "
                                "expected tokenizer, datasets, tasks")
        names = TOKENIZERS.names(run["tokenizer"]) if any(ch in run["tokenizer"] for ch in "*?[") \
            else [run["tokenizer"]]  # a glob ('*', 'rqvae_*') picks up newly registered variants by itself
        if not names:
            raise RegistryError(f"suite '{suite['name']}': tokenizer pattern '{run['tokenizer']}' matches nothing")
        for name in names:
            _plan_run(cfg, {**run, "tokenizer": name}, stages)
    return list(stages.values())


def _plan_run(cfg: dict[str, Any], run: dict[str, Any], stages: dict[str, Stage]) -> None:
    """Stages of one (tokenizer, datasets, tasks) run, added to `stages` in dependency order."""
    scale = cfg["scale"]
    entry = create_entry(run["tokenizer"], scale["name"], _tokenizer_overrides(cfg, run["tokenizer"]))
    tok_cfg = entry.to_dict()
    h, w, c = (entry.model.resolution // entry.model.downsample,) * 2 + (latent_channels(entry),)
    setting = f"{h}x{w}x{c} K={entry.model.n_embed} {scale['name']}"
    weights = {"mode": scale["metrics"]["weights"], "seed": scale["metrics"]["seed"]}
    for ds in run["datasets"]:
        d = _dataset_config(cfg, ds, entry.model.resolution)
        labels = {"dataset": ds, "method": entry.name, "setting": setting}
        train = Stage("train_tokenizer", f"train {entry.name} on {ds}",
                      {"tokenizer": tok_cfg, "dataset": d, "seed": cfg["seed"], "metric_weights": weights},
                      labels=labels)
        stages.setdefault(train.key, train)
        for task_name in run["tasks"]:
            task = TASKS.get(task_name)
            ev = Stage(EVAL_KINDS[task.task], f"{task.task} {entry.name} on {ds}",
                       {"tokenizer": tok_cfg, "dataset": d, "task": task.task, "task_version": task.version,
                        "seed": cfg["seed"], "metric_weights": weights, "max_images": scale["eval"]["max_images"],
                        "num_workers": scale["eval"]["num_workers"]},
                       inputs=(train.key,), labels=labels)
            stages.setdefault(ev.key, ev)
