"""Load a fixture made by tools/official_fixtures/ (official code's inputs and outputs; no network needed)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

OFFICIAL = Path(__file__).resolve().parent / "data" / "official"


def load_fixture(repo_dir: str, name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of tests/data/official/<repo_dir>/<name>; meta names the repository, commit and function."""
    meta = json.loads((OFFICIAL / repo_dir / f"{name}.json").read_text())
    assert len(meta["commit"]) == 40, f"fixture {repo_dir}/{name} does not record its source commit"
    return load_file(str(OFFICIAL / repo_dir / f"{name}.safetensors")), meta
