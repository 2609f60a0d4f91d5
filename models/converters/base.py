"""Converter registry, checkpoint unwrapping, format detection, and strict loading with a clear key report."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from bench.core.registry import Registry

Converter = Callable[[dict[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]]
CONVERTERS: Registry[Converter] = Registry("checkpoint format")


class CheckpointMismatchError(ValueError):
    """A converted state dict does not fit the model; the message lists missing and unexpected keys."""


def unwrap(obj: object) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint: Lightning 'state_dict', VQGAN-LC 'model', DDP 'module.' prefixes."""
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointMismatchError("checkpoint holds no state dict (expected a dict of tensors, or one under "
                                      "'state_dict' / 'model')")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def detect_format(state: dict[str, torch.Tensor]) -> str:
    """Guess the releasing codebase from its parameter names."""
    if "tok_embeddings.weight" in state:
        return "vqganlc"
    if any(k.startswith("quantizer.codebooks.") for k in state):
        return "rqvae"
    if "quantize.embedding.weight" in state:
        return "taming"
    raise CheckpointMismatchError("cannot tell which codebase wrote this checkpoint (no 'tok_embeddings.weight', "
                                  "'quantizer.codebooks.*' or 'quantize.embedding.weight'); set "
                                  f"tokenizer.checkpoint_format to one of {CONVERTERS.names()}")


def load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Strict load: every model tensor must be provided with its shape, and nothing may be left over."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(
            f"{source} checkpoint does not fit {type(model).__name__}: missing keys {missing[:20]}"
            f"{' ...' if len(missing) > 20 else ''} ({len(missing)}); unexpected keys {unexpected[:20]}"
            f"{' ...' if len(unexpected) > 20 else ''} ({len(unexpected)}); shape mismatches {shapes[:10]}. "
            "Check that tokenizer=<entry> matches the released configuration (codebook size, embed_dim, depth).")
    model.load_state_dict(state, strict=True)


def convert_checkpoint(path: str | Path, model: nn.Module, fmt: str = "auto") -> str:
    """Load a released checkpoint file into `model` through its converter; returns the format used."""
    from models.converters import rqvae, taming, vqganlc  # noqa: F401  register the converters

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path} (set tokenizer.checkpoint=PATH to a released "
                                "taming / VQGAN-LC / RQ-VAE checkpoint or a vqbench tokenizer.pt)")
    raw = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(raw, dict) and "entry" in raw and "state_dict" in raw:  # a vqbench tokenizer.pt
        load_into(model, raw["state_dict"], "vqbench")
        return "vqbench"
    state = unwrap(raw)
    fmt = detect_format(state) if fmt == "auto" else fmt
    load_into(model, CONVERTERS.get(fmt)(state, model), fmt)
    return fmt
