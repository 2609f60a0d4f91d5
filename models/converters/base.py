"""Converter registry, checkpoint unwrapping, format detection, strict loading with a clear key report, and the
safe loader every checkpoint a user points at goes through (torch.load(weights_only=True) or safetensors)."""
from __future__ import annotations

import importlib
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.core.artifacts import artifact_path, is_artifact, load_artifact
from bench.core.registry import Registry

Converter = Callable[[dict[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]]
CONVERTERS: Registry[Converter] = Registry("checkpoint format")


TRUST_FLAG = "tokenizer.trust_checkpoint=true"


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a Python global outside the allow-list: loading it could run arbitrary code."""


# Non-tensor objects released checkpoints carry (Lightning hyper-parameters, argparse args, OmegaConf configs):
# plain data containers whose unpickling calls no user code. A name whose module is not installed is skipped (such
# a file then names it in the refusal).
_DATA_GLOBALS = [
    "argparse.Namespace", "collections.defaultdict", "collections.OrderedDict", "typing.Any", "builtins.list",
    "builtins.dict", "builtins.int", "builtins.float", "builtins.str", "builtins.set", "builtins.tuple",
    "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.PurePosixPath", "pathlib.PureWindowsPath",
    "omegaconf.dictconfig.DictConfig", "omegaconf.listconfig.ListConfig", "omegaconf.base.ContainerMetadata",
    "omegaconf.base.Metadata", "omegaconf.nodes.AnyNode", "omegaconf.nodes.StringNode", "omegaconf.nodes.IntegerNode",
    "omegaconf.nodes.FloatNode", "omegaconf.nodes.BooleanNode", "omegaconf.nodes.BytesNode",
    "omegaconf.nodes.PathNode",
]
# Lightning's AttributeDict (taming / VQGAN-LC hparams) is a dict subclass; torch's weights-only unpickler fills
# only plain dicts, so it is read back as a plain dict (whether or not Lightning is installed).
_AS_DICT = ("pytorch_lightning.utilities.parsing.AttributeDict", "lightning.fabric.utilities.data.AttributeDict",
            "lightning_fabric.utilities.data.AttributeDict")


def _resolve(name: str) -> Any | None:
    """The object a dotted global name denotes, or None when its module is not installed."""
    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def safe_globals() -> list[tuple[Any, str]]:
    """The allow-list passed to torch.serialization.safe_globals: (object, pickled name) pairs."""
    pairs = [(obj, name) for name in _DATA_GLOBALS if (obj := _resolve(name)) is not None]
    return pairs + [(dict, name) for name in _AS_DICT]


def _unsafe_names(path: Path, error: Exception) -> list[str]:
    """The globals a refused file wants: torch's scan of the pickle (runs nothing), else the error text."""
    allowed = {name for _, name in safe_globals()}
    try:
        names = [n for n in torch.serialization.get_unsafe_globals_in_checkpoint(path) if n not in allowed]
    except Exception:  # an old or non-zip file: fall back to the names torch's error message quotes
        names = []
    reason = str(error).strip().splitlines()
    return names or re.findall(r"GLOBAL ([\w.]+)", str(error)) or [next((r for r in reason if "error" in r), "?")]


def load_checkpoint_file(path: str | Path, trust: bool = False, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint someone else wrote: safetensors as tensors; torch files with weights_only=True plus the
    data allow-list; anything needing other code is refused unless `trust` (tokenizer.trust_checkpoint=true)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device=str(map_location))
    if trust:  # the user vouched for this file on the command line
        return torch.load(path, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        names = _unsafe_names(path, e)
        raise UnsafeCheckpointError(
            f"refusing to load {path}: unpickling it needs {', '.join(names)}, which is not plain data, so loading "
            f"could run arbitrary code; if you trust the file's source, add {TRUST_FLAG}") from None


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
    if "decoder.up_blocks.0.resnets.0.conv1.weight" in state:  # a diffusers VQModel (save_pretrained's weights)
        return "diffusers_vq"
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


def convert_checkpoint(path: str | Path, model: nn.Module, fmt: str = "auto", trust: bool = False) -> str:
    """Load a released checkpoint file into `model` through its converter (safely, unless `trust`); returns the
    format used."""
    from models.converters import diffusers_vq, rqvae, taming, vqganlc  # noqa: F401  register the converters

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
