"""GPU placement for launcher=local: disjoint GPUs per concurrent stage, and multi-task stages as one process group.

A stage's GPU and task counts come from per-kind resources, as under SLURM (`launcher.resources.<kind>`, or a
SLURM profile's `resources` with `launcher.profile=<name>`); tasks default to one per GPU. submitit's
LocalExecutor then sets CUDA_VISIBLE_DEVICES of the job to the GPUs handed out here (`visible_gpus`) and starts
`tasks_per_node` processes, which bench/core/distributed.py export_local_env turns into a torchrun-style group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Placement:
    """What one local job needs: this many GPUs (maybe none) and this many processes."""

    gpus: int
    tasks: int


def machine_gpus(option: list[int] | None) -> list[int]:
    """GPU ids to share out: `launcher.gpus` when set, else every GPU this machine shows (none on a CPU box)."""
    if option is not None:
        return [int(g) for g in option]
    import torch

    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def stage_resources(options: dict[str, Any], kind: str) -> dict[str, Any]:
    """gpus_per_node / tasks_per_node of a stage kind: launcher.resources over the profile's, `default` under both."""
    profile: dict[str, Any] = {}
    if options.get("profile"):
        from bench.launch.slurm import load_profile

        profile = load_profile(options["profile"]).get("resources") or {}
    out: dict[str, Any] = {}
    for src in (profile, options.get("resources") or {}):
        for part in ("default", kind):
            out.update({k: v for k, v in (src.get(part) or {}).items() if v is not None})
    return out


def placement_for(options: dict[str, Any], kind: str, device: str, n_machine: int) -> Placement:
    """The GPU count (0 for a CPU run: stages never hold GPUs they do not use) and task count of a stage."""
    res = stage_resources(options, kind)
    want = 0 if device == "cpu" or n_machine == 0 else int(res.get("gpus_per_node") or 1)
    if want > n_machine:
        raise SystemExit(f"error: {kind} stages ask for {want} GPUs (resources.gpus_per_node) but launcher=local has "
                         f"{n_machine}; set launcher.resources.{kind}.gpus_per_node={n_machine}")
    tasks = int(res.get("tasks_per_node") or max(1, want))
    if want and tasks != want:
        raise SystemExit(f"error: {kind} stages: tasks_per_node={tasks} with {want} GPUs; launcher=local runs one "
                         "process per GPU")
    return Placement(want, tasks)


class GpuPool:
    """Free GPU ids; a stage takes the lowest free ones and gives them back when its job ends."""

    def __init__(self, ids: list[int]) -> None:
        self.free = sorted(ids)

    def take(self, n: int) -> tuple[int, ...] | None:
        """n free ids (removed from the pool), or None when fewer are free."""
        if n > len(self.free):
            return None
        got, self.free = tuple(self.free[:n]), self.free[n:]
        return got

    def give_back(self, ids: tuple[int, ...]) -> None:
        self.free = sorted(self.free + list(ids))
