"""Write one official-code fixture: tensors as safetensors, provenance as JSON (repository, commit, file, function).

Usage in a fixture script (which may import and run official code; vqbench itself never copies it):

    save_fixture("DiT", "pos_embed", {"x": x, "out": out}, repo="facebookresearch/DiT", commit=sha,
                 source="models.py", function="get_2d_sincos_pos_embed", notes="grid 4, dim 16")
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2] / "tests" / "data" / "official"


def mirror_commit(git_dir: str | Path) -> str:
    """HEAD commit of a fetched mirror (a bare git dir from the `fetch` tool)."""
    return subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def save_fixture(repo_dir: str, name: str, tensors: dict[str, torch.Tensor], *, repo: str, commit: str,
                 source: str, function: str, notes: str = "", extra: dict[str, Any] | None = None) -> Path:
    """tests/data/official/<repo_dir>/<name>.safetensors + <name>.json; returns the JSON path."""
    out = ROOT / repo_dir
    out.mkdir(parents=True, exist_ok=True)
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    save_file(flat, str(out / f"{name}.safetensors"))
    meta = {"repository": repo, "commit": commit, "file": source, "function": function, "notes": notes,
            "shapes": {k: list(v.shape) for k, v in flat.items()}, "dtypes": {k: str(v.dtype) for k, v in flat.items()},
            "torch": torch.__version__, **(extra or {})}
    path = out / f"{name}.json"
    path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return path
