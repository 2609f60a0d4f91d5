"""Prior training lengths in the papers' own units, turned into steps at plan time.

A paper-scale prior states `train.length` as (value, 'epochs' | 'iters') and optionally `train.warmup`, with the
source in the entry's `sources`. Epochs count the dataset the prior trains on (MoVQ's 200 epochs are 200 FFHQ
epochs in Table 2 and 200 ImageNet epochs in Table 3), so the steps come from that dataset's train-split size
(counted when present, else the registry's nominal size) and the prior's global batch; iterations (DiT / SiT:
400k at batch 256) stay as given. Explicit `train.steps` / `train.warmup_steps` overrides win.
"""
from __future__ import annotations

from typing import Any

from bench.plan.recipes import train_images
from models.recipes import to_steps


def derive_prior_length(entry: Any, dataset: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The derived numbers plan.json shows, and the `train` fields the stage applies."""
    t = entry.train
    n, how = train_images(dataset)
    explicit = {k for k, v in ((overrides or {}).get("train") or {}).items() if v is not None}
    train: dict[str, int] = {}
    if "steps" not in explicit:
        train["steps"] = to_steps(tuple(t.length), n, t.batch_size)
    if t.warmup is not None and "warmup_steps" not in explicit:
        train["warmup_steps"] = to_steps(tuple(t.warmup), n, t.batch_size)
    steps = train.get("steps", t.steps)
    return {"train": train, "length": list(t.length), "warmup": list(t.warmup) if t.warmup else None,
            "dataset": dataset["name"], "dataset_images": n, "dataset_images_from": how,
            "global_batch": t.batch_size, "steps": steps, "epochs": round(steps * t.batch_size / n, 3),
            "images_seen": steps * t.batch_size, "ema_decay": t.ema_decay,
            "sources": {k: v for k, v in entry.sources.items() if k.startswith("train")}}
