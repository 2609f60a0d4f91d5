"""Converters from released checkpoints' state dicts to vqbench modules (taming VQGAN, VQGAN-LC, RQ-VAE stage 1).

`base` holds the registry and the safe loader; each converter module registers itself there, and this package
imports them all, so `convert_checkpoint` sees every format (the converters never import it back: no cycle)."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from bench.core.artifacts import artifact_path, is_artifact, load_artifact
from models.converters import diffusers_vq, rqvae, taming, vqganlc  # noqa: F401  register the converters
from models.converters.base import CONVERTERS, detect_format, load_checkpoint_file, load_into, unwrap


def convert_checkpoint(path: str | Path, model: nn.Module, fmt: str = "auto", trust: bool = False) -> str:
    """Load a released checkpoint file into `model` through its converter (safely, unless `trust`); returns the
    format used."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path} (set tokenizer.checkpoint=PATH to a released "
                                "taming / VQGAN-LC / RQ-VAE checkpoint or a vqbench tokenizer.safetensors)")
    if path.suffix == ".json" and is_artifact(path):  # the planner hashes the named file: it must hold the weights
        raise ValueError(f"{path} is the metadata half of a vqbench artifact; point tokenizer.checkpoint at "
                         f"{artifact_path(path).name} beside it")
    if is_artifact(path):  # vqbench's own tokenizer.safetensors + tokenizer.json: read without pickle
        raw = load_artifact(path)
    else:  # a released file, or a vqbench tokenizer.pt from before artifacts (weights_only=True: tensors and dicts)
        raw = load_checkpoint_file(path, trust=trust)
    if isinstance(raw, dict) and "entry" in raw and "state_dict" in raw:  # a vqbench tokenizer artifact
        load_into(model, raw["state_dict"], "vqbench")
        return "vqbench"
    state = unwrap(raw)
    fmt = detect_format(state) if fmt == "auto" else fmt
    load_into(model, CONVERTERS.get(fmt)(state, model), fmt)
    return fmt
