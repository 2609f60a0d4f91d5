"""What each stage kind does: train a tokenizer; evaluate its reconstructions into metric records."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from bench.provenance import package_versions, stable_hash
from bench.stages import Runtime, Stage, record_provenance, runner, stage_dir, write_json_atomic
from bench.train import train_tokenizer, write_progress
from models.registry import TokenizerEntry, build_tokenizer, create_entry
from tasks.data.imagefolder import Protocol, collate_skip_corrupt
from tasks.data.registry import DATASETS
from tasks.metrics.networks import WeightsSpec
from tasks.metrics.registry import METRICS
from tasks.paths import cache_dir
from tasks.reconstruction import evaluate_reconstruction
from tasks.registry import TASKS


def entry_from_config(cfg: dict[str, Any]) -> TokenizerEntry:
    """Rebuild the exact tokenizer entry a stage was planned with."""
    return create_entry(cfg["name"], cfg["scale"], {k: cfg[k] for k in ("model", "loss", "train")})


def open_dataset(d: dict[str, Any], split: str, max_images: int | None = None):
    """Open a split as planned: registry entry + root + protocol + corrupt policy."""
    return DATASETS.get(d["name"]).open(split, Protocol(d["resolution"], d["interpolation"]), d.get("root"),
                                        d["on_corrupt"], max_images, d.get("file_list"))


def weights_spec(cfg: dict[str, Any], rt: Runtime) -> WeightsSpec:
    return WeightsSpec(cfg["mode"], cfg["seed"], rt.weights_dir)


@runner("train_tokenizer")
def run_train(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    c = stage.config
    entry = entry_from_config(c["tokenizer"])
    data = open_dataset(c["dataset"], "train")
    return train_tokenizer(entry, data, out, c["seed"], device, weights_spec(c["metric_weights"], rt))


@runner("eval_reconstruction")
def run_eval(stage: Stage, out: Path, rt: Runtime, device: torch.device) -> dict[str, Any]:
    c = stage.config
    task = TASKS.get(c["task"])
    ckpt = torch.load(stage_dir(rt.work_dir, stage.inputs[0]) / "tokenizer.pt", map_location="cpu", weights_only=False)
    entry = entry_from_config(c["tokenizer"])
    model = build_tokenizer(entry)
    model.load_state_dict(ckpt["state_dict"])
    model.to(device)
    d = c["dataset"]
    data = open_dataset(d, task.split, c["max_images"])
    loader = DataLoader(data, batch_size=task.batch_size, shuffle=False, num_workers=c["num_workers"],
                        collate_fn=collate_skip_corrupt)
    weights = weights_spec(c["metric_weights"], rt)
    ref_key = stable_hash([d, str(data.root), len(data), task.split, c["max_images"], c["metric_weights"],
                           rt.weights_dir, package_versions()])
    ref_path = cache_dir("refstats") / f"{d['name']}-{ref_key}.npz"  # real-image FID statistics, reused
    result = evaluate_reconstruction(model, loader, task.metrics, weights, device, ref_path, total=len(loader),
                                     on_batch=lambda i: write_progress(out / "progress.json", i, len(loader),
                                                                       f"eval {entry.name} on {d['name']}"))
    prov = record_provenance(stage, device, c["seed"], result.weights)
    protocol = {
        "split": f"{d['name']}/{task.split}", "image_count": result.n_images, "corrupt_skipped": result.n_corrupt,
        "resolution": d["resolution"], "crop": Protocol(d["resolution"], d["interpolation"]).describe(),
        "metric_weights": c["metric_weights"]["mode"] + ("" if c["metric_weights"]["mode"] == "pretrained"
                                                         else f"-seed{c['metric_weights']['seed']}"),
        "scale": entry.scale, "task": f"{task.task}@v{task.version}",
    }
    metric_protocol = {k: v for m in task.metrics for k, v in METRICS.get(m).protocol.items()}
    base = {**stage.labels, **metric_protocol, **protocol, **prov, "tokens_per_image": model.tokens_per_image,
            "codebook_size": model.codebook_size}
    records = []
    for metric, value in result.values.items():
        m = METRICS.get(metric)
        records.append({**base, "metric": metric, "value": value, "unit": m.unit, "direction": m.direction})
    tmp = out / ".records.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records))
    tmp.replace(out / "records.jsonl")
    write_json_atomic(out / "values.json", result.values)
    return {"images": result.n_images, "corrupt_skipped": result.n_corrupt, "records": len(records)}
