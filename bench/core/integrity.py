"""Artifact integrity: list a folder's outputs with size and sha256, verify them before trusting, set damage aside.

A stage writes its outputs, then `done.json` last with `outputs` = [{path, size, sha256}] (bench/stages/base.py).
A consumer verifies that list before it trusts the stage; damage moves the folder aside (`<name>.corrupt-<UTC>`,
never deleted) and the stage is redone. Caches outside stage folders ($VQBENCH_CACHE: reference statistics, random
metric weights) go through `load_or_rebuild`: an unreadable file is set aside with one warning line and rebuilt.

Cost rule: the first verification of a file in a process hashes it; the digest is remembered under
(path, size, mtime_ns), so later checks in the same process are one stat. Any write to the file changes its
mtime_ns (or size) and forces a new hash.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Files of a stage folder that are not outputs: the claim lock (rewritten by every runner that takes the claim),
# progress.json (a live progress bar, rewritten while the stage runs), failed.json (an earlier failure) and
# done.json itself. Hidden files are temporaries of atomic writes or locks. stage.json IS listed: it says what
# the stage computed, and nothing rewrites it once the stage is done.
VOLATILE = frozenset({"done.json", "failed.json", "progress.json", ".claim.lock"})
_CHUNK = 1 << 20
_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 hex, per process


class DamagedArtifact(Exception):
    """An artifact failed verification; the message names the file and what is wrong with it."""


def utc_stamp() -> str:
    """A UTC time usable in a file name: 20261203T081500.123Z."""
    t = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def sha256_file(path: str | Path) -> str:
    """sha256 of a file, remembered under (path, size, mtime_ns) for this process."""
    st = os.stat(path)
    memo = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
        _DIGESTS[memo] = h.hexdigest()
    return _DIGESTS[memo]


def is_output(rel: Path) -> bool:
    """Whether a file (path relative to its stage folder) is an output: not volatile, not hidden anywhere."""
    return rel.name not in VOLATILE and not any(part.startswith(".") for part in rel.parts)


def list_outputs(folder: str | Path) -> list[dict[str, Any]]:
    """[{path, size, sha256}] of every output file under `folder`, sorted by relative path."""
    folder = Path(folder)
    entries = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not p.is_symlink() and is_output(rel):
            entries.append({"path": rel.as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)})
    return entries


def verify_outputs(folder: str | Path, outputs: Iterable[dict[str, Any]]) -> None:
    """Raise DamagedArtifact naming the first listed output that is missing, resized or changed."""
    folder = Path(folder)
    for e in outputs:
        p = folder / e["path"]
        if not p.is_file():
            raise DamagedArtifact(f"{p}: listed in done.json but missing")
        size = p.stat().st_size
        if size != e["size"]:
            raise DamagedArtifact(f"{p}: {size} bytes, done.json lists {e['size']}")
        if sha256_file(p) != e["sha256"]:
            raise DamagedArtifact(f"{p}: sha256 differs from done.json (content changed)")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A done.json that lists its outputs; DamagedArtifact when unreadable, not an object, or without the list."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DamagedArtifact(f"{path}: unreadable ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict):
        raise DamagedArtifact(f"{path}: not a JSON object")
    outputs = data.get("outputs")
    if not isinstance(outputs, list) or not all(
            isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("size"), int)
            and isinstance(e.get("sha256"), str) for e in outputs):
        raise DamagedArtifact(f"{path}: no valid list of outputs (written before outputs were verified, or damaged)")
    return data


def move_aside(path: str | Path) -> Path:
    """Rename a file or folder to `<name>.corrupt-<UTC time>` beside it (never deleted); the new path."""
    path = Path(path)
    dest = path.with_name(f"{path.name}.corrupt-{utc_stamp()}")
    n = 1
    while dest.exists():  # two set-asides in one millisecond
        dest, n = path.with_name(f"{path.name}.corrupt-{utc_stamp()}-{n}"), n + 1
    path.rename(dest)
    return dest


def describe(err: BaseException) -> str:
    """'Type: first line of the message' (at most 120 characters of it), for one-line reports."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:120]}" if text else type(err).__name__


def warn(message: str) -> None:
    """One line on stderr, flushed (the user's view of a damaged artifact)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def load_cached(path: str | Path, load: Callable[[Path], T], what: str) -> T | None:
    """`load(path)`, or None when the cache file is absent or unreadable: then it is moved aside with one warning
    line, and the caller rebuilds it (the one rule for every cache under $VQBENCH_CACHE)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return load(path)
    except Exception as err:  # noqa: BLE001 - any failure to read a cache file means: rebuild it
        try:
            where = f"moved to {move_aside(path).name}"
        except FileNotFoundError:  # another process set it aside first
            where = "already set aside"
        warn(f"{what} cache {path} is unreadable ({describe(err)}); {where}, rebuilding it")
        return None


def load_or_rebuild(path: str | Path, load: Callable[[Path], T], build: Callable[[Path], None], what: str) -> T:
    """`load(path)`, building the file first when absent or unreadable (set aside by `load_cached`); a failure after
    the rebuild propagates: then the builder itself is wrong."""
    got = load_cached(path, load, what)
    if got is not None:
        return got
    build(Path(path))
    return load(Path(path))
