"""The one resource merge: a stage kind's resources from the SLURM profile and `launcher.resources`, the GPUs a
launcher offers a job (`launcher.gpus`, else the profile's maximum per job, else this machine's), and how a stage's
own process count is laid out on nodes.

The planner (bench/plan) asks it how many GPUs a stage may use; the launchers (bench/launch) ask it how to start
the stage. Both layers sit above this one, so plan and launch read the same numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from bench.core.resources import data_path

PROFILE_DIR = data_path("slurm", "profiles")
# SLURM's built-in defaults under the profile's and the launcher's values
SLURM_DEFAULTS = {"nodes": 1, "gpus_per_node": 0, "tasks_per_node": None, "cpus_per_task": 1, "mem_gb": 8,
                  "timeout_min": 60}


def load_profile(name: str | None) -> dict[str, Any]:
    """slurm/profiles/<name>.yaml (or a path), merged under the launcher config's non-null values."""
    if not name:
        return {}
    path = Path(name) if name.endswith((".yaml", ".yml")) else PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
        raise SystemExit(f"error: SLURM profile '{name}' not found at {path}; profiles: {', '.join(options)}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def merge_resources(options: dict[str, Any], kind: str) -> dict[str, Any]:
    """A stage kind's resources, the one merge every launcher and the planner use: launcher.resources over the
    profile's, `<kind>` over `default` within each (so a value given on the command line beats the profile file's,
    even the profile's per-kind one); null values are left out."""
    profile = load_profile(options.get("profile")).get("resources") or {}
    out: dict[str, Any] = {}
    for src in (profile, options.get("resources") or {}):
        for part in ("default", kind):
            out.update({k: v for k, v in (src.get(part) or {}).items() if v is not None})
    return out


def machine_gpu_count() -> int:
    """GPUs this machine shows (0 on a CPU box)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_budget(options: dict[str, Any]) -> tuple[int, str]:
    """(GPUs one training stage may use, where that number comes from).

    `launcher.gpus` (a count, or the list of GPU ids launcher=local shares out) wins; then a SLURM profile's
    `max_gpus_per_job`, or its train_tokenizer nodes x gpus_per_node; then this machine's GPUs (debug and local).
    """
    gpus = options.get("gpus")
    if gpus is not None:
        return (len(gpus) if isinstance(gpus, (list, tuple)) else int(gpus)), "launcher.gpus"
    if options.get("name") == "slurm":
        prof = load_profile(options.get("profile"))
        if prof.get("max_gpus_per_job") is not None:
            return int(prof["max_gpus_per_job"]), f"profile {options.get('profile')} max_gpus_per_job"
        res = {**SLURM_DEFAULTS, **merge_resources(options, "train_tokenizer")}
        return int(res["nodes"]) * int(res["gpus_per_node"] or 0), \
            f"profile {options.get('profile')} train_tokenizer nodes x gpus_per_node"
    return machine_gpu_count(), "this machine's GPUs"


def per_node_cap(options: dict[str, Any], kind: str) -> int | None:
    """The most GPUs one node gives a job of this kind (SLURM: the merged gpus_per_node; None: one node)."""
    if options.get("name") != "slurm":
        return None
    return int({**SLURM_DEFAULTS, **merge_resources(options, kind)}["gpus_per_node"] or 0) or None


def layout(processes: int, per_node: int | None) -> tuple[int, int]:
    """(nodes, processes per node) for a stage's process count: as few nodes as the per-node cap allows, the
    processes spread evenly (SLURM starts the same number of tasks on every node)."""
    if not per_node or processes <= per_node:
        return 1, processes
    nodes = -(-processes // per_node)
    while processes % nodes:
        nodes += 1
    return nodes, processes // nodes
