"""Where vqbench keeps caches (datasets it builds, random metric weights, reference statistics)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(sub: str = "") -> Path:
    """$VQBENCH_CACHE or ~/.cache/vqbench, created on demand."""
    root = Path(os.environ.get("VQBENCH_CACHE", Path.home() / ".cache" / "vqbench"))
    path = root / sub if sub else root
    path.mkdir(parents=True, exist_ok=True)
    return path
