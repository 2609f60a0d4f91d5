"""GPU placement for launcher=local: disjoint GPUs per concurrent stage, and multi-task stages as one process group.

A training stage's GPU and task counts are its own (train.n_gpu, fitted at plan time: bench/plan/recipes.py);
other stages' come from per-kind resources, as under SLURM (`launcher.resources.<kind>`, or a SLURM profile's
`resources` with `launcher.profile=<name>`); tasks default to one per GPU. submitit's
LocalExecutor then sets CUDA_VISIBLE_DEVICES of the job to the GPUs handed out here (`visible_gpus`) and starts
`tasks_per_node` processes, which bench/core/distributed.py export_local_env turns into a torchrun-style group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.core.launch_resources import machine_gpu_count, merge_resources
from bench.stages.base import Stage


@dataclass(frozen=True)
class Placement:
    """What one local job needs: this many GPUs (maybe none) and this many processes."""

    gpus: int
    tasks: int


def machine_gpus(option: list[int] | int | None) -> list[int]:
    """GPU ids to share out: `launcher.gpus` when set (ids, or a count: 0..n-1), else every GPU this machine shows
    (none on a CPU box)."""
    if option is not None:
        return list(range(int(option))) if isinstance(option, int) else [int(g) for g in option]
    return list(range(machine_gpu_count()))


def stage_resources(options: dict[str, Any], kind: str) -> dict[str, Any]:
    """gpus_per_node / tasks_per_node of a stage kind: launcher.resources over the profile's, `default` under both
    (bench/core/launch_resources.py merge_resources, the one merge SLURM uses too)."""
    return merge_resources(options, kind)


def stage_processes(stage: Stage) -> int | None:
    """The processes a tokenizer training stage planned for itself (its spec's resources: one per GPU); None: the
    kind's resources decide (the prior trainer runs one process)."""
    res = stage.spec.resources() if stage.kind == "train_tokenizer" else None  # StageSpec.resources
    return None if res is None else int(res["processes"])


def check_own_processes(res: dict[str, Any], kind: str, processes: int, per_node: int) -> None:
    """A stage's own process count wins; launcher.resources that ask for another count are refused, not ignored."""
    asked = res.get("tasks_per_node")
    if asked is not None and int(asked) != per_node:
        raise SystemExit(f"error: {kind} stage planned {processes} process(es) (train.n_gpu={processes}) but "
                         f"resources.{kind}.tasks_per_node={asked}; a training stage's processes come from its plan: "
                         f"pass train.n_gpu={asked} (smoke) or launcher.gpus (paper), or drop tasks_per_node")


def placement_for(options: dict[str, Any], kind: str, device: str, n_machine: int,
                  processes: int | None = None) -> Placement:
    """The GPU count (0 for a CPU run: stages never hold GPUs they do not use) and task count of a stage.

    `processes`: the stage's own count (stage_processes): that many GPUs on a GPU machine, that many gloo processes
    on a CPU; otherwise the kind's resources decide."""
    res = stage_resources(options, kind)
    if processes is not None:
        check_own_processes(res, kind, processes, processes)
        want = 0 if device == "cpu" or n_machine == 0 else processes
        if want > n_machine:
            raise SystemExit(f"error: {kind} stage planned {want} GPUs (train.n_gpu) but launcher=local has "
                             f"{n_machine}; plan with launcher.gpus={n_machine} (the accumulation makes up the batch "
                             "where it divides)")
        return Placement(want, processes)
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
