"""Safe loading of checkpoints a user points at (issue 23): weights_only=True plus a data allow-list; a file whose
unpickling would run code is refused (and runs nothing) unless tokenizer.trust_checkpoint=true."""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from models.converters.base import UnsafeCheckpointError, load_checkpoint_file

ROOT = Path(__file__).resolve().parents[1]


class _WritesMarker:
    """Unpickling this calls os.system: the attack a downloaded .ckpt can carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "hparams": _WritesMarker(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint_file(path)
    msg = str(err.value)
    assert "system" in msg and "tokenizer.trust_checkpoint=true" in msg, msg  # names the type and the flag
    assert "\n" not in msg
    assert not marker.exists()
    load_checkpoint_file(path, trust=True)  # the user vouched for it: plain torch.load
    assert marker.exists()


def test_refusal_through_the_cli_converter_path(tmp_path: Path) -> None:
    """convert_checkpoint (tokenizer.checkpoint=PATH) goes through the safe loader."""
    from models.converters import convert_checkpoint

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"quantize.embedding.weight": torch.ones(2, 2)}, "x": _WritesMarker(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="trust_checkpoint"):
        convert_checkpoint(path, torch.nn.Linear(2, 2))
    assert not marker.exists()


# Shaped like Lightning's hparams container, pickled under Lightning's name (Lightning is not installed here).
AttributeDict = type("AttributeDict", (dict,), {"__module__": "pytorch_lightning.utilities.parsing"})


def test_lightning_and_config_objects_are_allow_listed(tmp_path: Path) -> None:
    """What taming / VQGAN-LC / MAE checkpoints carry beside tensors: Lightning hparams, argparse args, OmegaConf."""
    import sys
    import types

    fake = {n: types.ModuleType(n) for n in ("pytorch_lightning", "pytorch_lightning.utilities",
                                             "pytorch_lightning.utilities.parsing")}
    fake["pytorch_lightning.utilities.parsing"].AttributeDict = AttributeDict
    saved = {n: sys.modules.get(n) for n in fake}
    sys.modules.update(fake)  # pickle looks the class up by name while saving
    try:
        path = tmp_path / "lightning.ckpt"
        torch.save({"state_dict": {"w": torch.arange(3.0)}, "hyper_parameters": AttributeDict(lr=1e-4, ddconfig={}),
                    "args": argparse.Namespace(model="vqgan"), "config": OmegaConf.create({"a": 1, "b": [1.5, "x"]}),
                    "epoch": 3, "path": Path("/x")}, path)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n)
            else:
                sys.modules[n] = m
    out = load_checkpoint_file(path)  # AttributeDict is read back as a plain dict (Lightning is not installed)
    assert torch.equal(out["state_dict"]["w"], torch.arange(3.0))
    assert dict(out["hyper_parameters"]) == {"lr": 1e-4, "ddconfig": {}}
    assert out["args"].model == "vqgan" and out["config"].b[1] == "x" and out["epoch"] == 3


def test_safetensors_files_load(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2, 3)}, str(tmp_path / "m.safetensors"))
    assert torch.equal(load_checkpoint_file(tmp_path / "m.safetensors")["w"], torch.ones(2, 3))


# The one torch.load(weights_only=False) allowed: the trust branch of the safe loader, reached only with
# tokenizer.trust_checkpoint=true. vqbench's own files are safetensors + JSON (tests/test_artifacts.py); the
# tokenizer.pt an older vqbench wrote holds tensors, dicts and numbers, so it loads with weights_only=True too.
ALLOWED_UNSAFE = {("models/converters/base.py",
                   "return torch.load(path, map_location=map_location, weights_only=False)")}


def test_no_unsafe_torch_load_in_the_code_base() -> None:
    found, bare = set(), []
    for folder in ("bench", "models", "tasks", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            rel = str(path.relative_to(ROOT))
            for line in text.splitlines():
                if "weights_only=False" in line:
                    found.add((rel, line.strip()))
            # a torch.load call without weights_only depends on torch's default (False before 2.6)
            for call in re.finditer(r"torch\.load\(", text):
                depth, i = 1, call.end()
                while depth and i < len(text):
                    depth += {"(": 1, ")": -1}.get(text[i], 0)
                    i += 1
                if "weights_only" not in text[call.end():i]:
                    bare.append(f"{rel}: {text[call.start():i]}")
    assert found == ALLOWED_UNSAFE, found - ALLOWED_UNSAFE
    assert not bare, bare
