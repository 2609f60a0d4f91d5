"""What stage runners share: the tokenizer entry a stage was planned with, its trained weights, its datasets and
its metric networks' weights lookup. Runner modules (runners.py, downstream.py) import this; it imports no runner."""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from bench.core.artifacts import load_artifact
from bench.core.weights import WeightsSpec
from bench.stages.base import Runtime, stage_dir
from models.registry import TokenizerEntry, build_tokenizer, create_entry
from tasks.data.imagefolder import Protocol
from tasks.data.registry import DATASETS


def entry_from_config(cfg: dict[str, Any]) -> TokenizerEntry:
    """Rebuild the exact tokenizer entry a stage was planned with (phase 1 of a two-phase recipe included)."""
    entry = create_entry(cfg["name"], cfg["scale"], {k: cfg[k] for k in ("model", "loss", "train")})
    if cfg.get("phase") == 1:
        entry = dataclasses.replace(entry, phase1=None, phase=1)
    return entry


def load_trained_tokenizer(rt: Runtime, train_key: str, tok_cfg: dict[str, Any]) -> torch.nn.Module:
    """The tokenizer a train_tokenizer stage wrote (tokenizer.safetensors + .json), rebuilt from its
    planned config."""
    model = build_tokenizer(entry_from_config(tok_cfg))
    state = load_artifact(stage_dir(rt.work_dir, train_key) / "tokenizer.safetensors")
    model.load_state_dict(state["state_dict"])
    return model


def open_dataset(d: dict[str, Any], split: str, max_images: int | None = None, augment: str = "center",
                 subset_seed: int = 0):
    """Open a split as planned: registry entry + root + protocol (+ training crop) + corrupt policy;
    max_images: a seeded draw across the split."""
    protocol = Protocol(d["resolution"], d["interpolation"], augment, d.get("decoder", "pil"))
    return DATASETS.get(d["name"]).open(split, protocol, d.get("root"), d["on_corrupt"], max_images, d.get("file_list"),
                                        subset_seed)


def metric_weights_spec(metric_weights: dict[str, Any], rt: Runtime) -> WeightsSpec:
    """The weights lookup (bench/core/weights.py) for a stage's metric_weights settings ({mode, seed})."""
    return WeightsSpec(metric_weights["mode"], metric_weights["seed"], rt.weights_dir)
