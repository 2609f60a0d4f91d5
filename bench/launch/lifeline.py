"""Tie a job process's life to the process that launched it, so killing the launcher leaves no orphan.

submitit's local jobs run as launcher -> controller -> task; after `kill -9` of the launcher both are
reparented to PID 1 and would keep training. The task therefore (1) asks the kernel for SIGKILL when its
parent (the controller) dies (prctl PR_SET_PDEATHSIG, Linux) and (2) watches the launcher from a daemon
thread, identified by pid *and* start time so a recycled pid does not count as alive, and kills itself when
the launcher is gone. The kernel then drops the task's stage claim (flock), so a re-run can take the stage.
"""
from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces and parentheses
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return fields[19]


def identity(pid: int | None = None) -> tuple[int, str | None]:
    """(pid, start time) of a process (default: this one), to hand to `die_with`."""
    pid = os.getpid() if pid is None else pid
    return pid, start_time(pid)


def is_alive(ident: tuple[int, str | None]) -> bool:
    """Whether the process `identity()` described still runs (not a later process that reused its pid)."""
    pid, started = ident
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies; False where prctl is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def die_with(launcher: tuple[int, str | None], poll_s: float = 1.0) -> None:
    """SIGKILL this process as soon as `launcher` (an `identity()`) or this process's parent is gone."""
    parent = os.getppid()
    set_parent_death_signal()
    if parent == 1 or not is_alive(launcher):  # died before the prctl above took effect
        os.kill(os.getpid(), signal.SIGKILL)

    def watch() -> None:
        while is_alive(launcher):
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()
