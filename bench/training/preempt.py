"""Preemption and time limits: save a consistent checkpoint at the next step boundary, then requeue or exit.

Under SLURM, submitit turns SIGUSR2 (sent `signal_delay_s` before the time limit, or on preemption) into
"call checkpoint(), requeue, exit", but it runs inside the signal handler, i.e. possibly halfway through an
optimizer step. The guard only records the signal; the trainer calls `guard.poll(save)` between steps, which
saves a checkpoint and then hands over to submitit's handler (requeue) or, for SIGTERM (`scontrol requeue`,
`scancel`), exits so SLURM can restart the job, which resumes from that checkpoint.

Every launcher installs the guard (launcher=debug around each stage, launcher=local in the job process, where
submitit's own handler would only print "Bypassing signal SIGTERM"); outside SLURM (`requeue=False`) both
signals save and exit with `Preempted` (code 128 + signal), and a re-run resumes from the saved step.
"""
from __future__ import annotations

import signal
from collections.abc import Callable

_active: PreemptionGuard | None = None


class Preempted(SystemExit):
    """A stage stopped by SIGUSR2/SIGTERM after saving its checkpoint; exit code 128 + signal."""

    def __init__(self, signum: int, step: int | None) -> None:
        super().__init__(128 + signum)
        at = f" at step {step}" if step is not None else ""
        self.message = (f"stopped by {signal.Signals(signum).name}{at}: checkpoint saved; run the same command again "
                        f"to resume from it")

    def __str__(self) -> str:
        return self.message


class PreemptionGuard:
    """Defers SIGUSR2/SIGTERM to the next `poll()`. `requeue`: hand SIGUSR2 on to the handler it replaced
    (submitit's requeue under SLURM); launcher=local passes False, its submitit handler cannot requeue."""

    SIGNALS = (signal.SIGUSR2, signal.SIGTERM)

    def __init__(self, requeue: bool = True) -> None:
        self.pending: int | None = None
        self.requeue = requeue
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
        """Call between training steps: on a recorded signal, save, then requeue (USR2 under SLURM) or exit."""
        if self.pending is None:
            return
        signum, self.pending = self.pending, None
        save()
        previous = self._previous.get(signum)
        self.__exit__()
        if self.requeue and signum == signal.SIGUSR2 and callable(previous):
            previous(signum, None)  # submitit: checkpoint() -> requeue -> sys.exit
        args = getattr(save, "args", ())  # the trainer passes functools.partial(save, step): name the step
        raise Preempted(signum, args[0] if args and isinstance(args[0], int) else None)


def active_guard() -> PreemptionGuard | None:
    """The guard installed by the running stage, if any (the trainer polls it)."""
    return _active
