"""What stage runners share: the tokenizer entry a stage was planned with, its trained weights, its datasets and
its metric networks' weights lookup. Runner modules (runners.py, downstream.py) import this; it imports no runner."""
from __future__ import annotations

from typing import Any

import torch

from bench.core.artifacts import load_artifact
from bench.core.weights import WeightsSpec
from bench.stages.base import Runtime, stage_dir, to_json
from bench.stages.specs import DatasetSpec, MetricWeights, PriorSpec, TokenizerSpec
from models.priors.registry import PriorEntry
from models.registry import TokenizerEntry, build_tokenizer
from tasks.data.imagefolder import Protocol
from tasks.data.registry import DATASETS


def entry_from_config(cfg: TokenizerSpec | dict[str, Any]) -> TokenizerEntry:
    """Rebuild the exact tokenizer entry a stage was planned with (phase 1 of a two-phase recipe included), from its
    spec or the spec's JSON form."""
    return (cfg if isinstance(cfg, TokenizerSpec) else TokenizerSpec.from_dict(cfg)).entry()


def prior_entry_of(prior: PriorSpec | dict[str, Any]) -> PriorEntry:
    """Rebuild the bound prior a stage was planned with, from its spec or the spec's JSON form."""
    return (prior if isinstance(prior, PriorSpec) else PriorSpec(**prior)).entry()


def load_trained_tokenizer(rt: Runtime, train_key: str, tok_cfg: TokenizerSpec | dict[str, Any]) -> torch.nn.Module:
    """The tokenizer a train_tokenizer stage wrote (tokenizer.safetensors + .json), rebuilt from its
    planned config."""
    model = build_tokenizer(entry_from_config(tok_cfg))
    state = load_artifact(stage_dir(rt.work_dir, train_key) / "tokenizer.safetensors")
    model.load_state_dict(state["state_dict"])
    return model


def open_dataset(d: DatasetSpec | dict[str, Any], split: str, max_images: int | None = None, augment: str = "center",
                 subset_seed: int = 0):
    """Open a split as planned: registry entry + root + protocol (+ training crop) + corrupt policy;
    max_images: a seeded draw across the split."""
    d = d if isinstance(d, DatasetSpec) else DatasetSpec(**d)
    protocol = Protocol(d.resolution, d.interpolation, augment, d.decoder)
    return DATASETS.get(d.name).open(split, protocol, d.root, d.on_corrupt, max_images, d.file_list, subset_seed)


def metric_weights_spec(metric_weights: MetricWeights | dict[str, Any], rt: Runtime) -> WeightsSpec:
    """The weights lookup (bench/core/weights.py) for a stage's metric_weights settings ({mode, seed})."""
    w = to_json(metric_weights)
    return WeightsSpec(w["mode"], w["seed"], rt.weights_dir)
