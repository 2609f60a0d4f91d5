"""Atomic file replacement: write to a unique temp file beside the target, then rename it over the target.

Temp names are unique per call (mkstemp), so two processes writing the same target never rename each
other's half-written file; a reader always sees either the old or the new complete file.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: mkstemp creates 0600 files, outputs should get the usual permissions


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp", fsync: bool = False) -> Iterator[Path]:
    """Yield a unique temp path beside `path`; on success rename it onto `path`, on error remove it.

    `suffix` keeps writers that append their own extension (np.savez adds '.npz') on the yielded name.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace `path` with `text` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Replace `path` with `obj` as indented, key-sorted JSON, atomically."""
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True, default=str))
