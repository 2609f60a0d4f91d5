"""Exclusive claims on a folder through an OS file lock (fcntl.flock), so one process at a time works in it.

The kernel drops a flock when its owner dies (even by kill -9), so a claim never outlives its process and
needs no stale-lock cleanup. The owner writes its host and pid into the lock file, for others to report.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_NAME = ".claim.lock"


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def claim_owner(folder: str | Path) -> dict | None:
    """{'host', 'pid', 'since'} of the live process holding the folder's claim, or None when it is free."""
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(fd):  # nobody holds it: whatever the file says is a dead owner's
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        try:
            return json.loads(Path(path).read_text() or "{}") or {"host": "?", "pid": "?"}
        except ValueError:
            return {"host": "?", "pid": "?"}
    finally:
        os.close(fd)


@contextlib.contextmanager
def claim(folder: str | Path, on_wait: Callable[[dict], None] | None = None,
          poll_s: float = 0.5, wait: bool = True) -> Iterator[bool]:
    """Hold the folder's exclusive claim for the block, waiting while another process holds it; yields True.

    `on_wait(owner)` is called once when the claim is busy, naming the live owner (host, pid). With `wait=False` a
    busy claim yields False at once (the block then runs without it).
    """
    folder = Path(folder)
    waited = False
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            if not wait:
                os.close(fd)
                yield False
                return
            if on_wait is not None and not waited:
                on_wait(claim_owner(folder) or {"host": "?", "pid": "?"})
            waited = True
            while not _try_lock(fd):  # polling, not a blocking flock: signals (SIGUSR2, Ctrl-C) stay prompt
                time.sleep(poll_s)
        if _same_file(fd, folder / LOCK_NAME):
            break
        os.close(fd)  # the owner moved the folder aside (a damaged stage): claim the folder now at this path
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}).encode(), 0)
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open lock file is still the one at `path` (not renamed away with its folder)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
