"""Preemption and time limits: save a consistent checkpoint at the next step boundary, then requeue or exit.

Under SLURM, submitit turns SIGUSR2 (sent `signal_delay_s` before the time limit, or on preemption) into
"call checkpoint(), requeue, exit", but it runs inside the signal handler, i.e. possibly halfway through an
optimizer step. The guard only records the signal; the trainer calls `guard.poll(save)` between steps, which
saves a checkpoint and then hands over to submitit's handler (requeue) or, for SIGTERM (`scontrol requeue`,
`scancel`), exits so SLURM can restart the job, which resumes from that checkpoint.
"""
from __future__ import annotations

import signal
import sys
from collections.abc import Callable

_active: PreemptionGuard | None = None


class PreemptionGuard:
    """Defers SIGUSR2/SIGTERM to the next `poll()`; a no-op outside SLURM jobs (no signal ever arrives)."""

    SIGNALS = (signal.SIGUSR2, signal.SIGTERM)

    def __init__(self) -> None:
        self.pending: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> PreemptionGuard:
        global _active
        for sig in self.SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._record)
        _active = self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        _active = None

    def _record(self, signum, frame) -> None:
        self.pending = signum

    def poll(self, save: Callable[[], None]) -> None:
        """Call between training steps: on a recorded signal, save, then requeue (USR2) or exit (TERM)."""
        if self.pending is None:
            return
        signum, self.pending = self.pending, None
        save()
        previous = self._previous.get(signum)
        self.__exit__()
        if signum == signal.SIGUSR2 and callable(previous):
            previous(signum, None)  # submitit: checkpoint() -> requeue -> sys.exit
        sys.exit(128 + signum)


def active_guard() -> PreemptionGuard | None:
    """The guard installed by the running stage, if any (the trainer polls it)."""
    return _active
