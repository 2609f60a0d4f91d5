"""Task registry: tasks are data (one YAML each, with a version), lm-evaluation-harness style."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.core.registry import Registry
from tasks.metrics import recon_metrics  # noqa: F401  metric modules register their METRICS entries before the YAMLs load
from tasks.metrics.registry import METRICS


@dataclass(frozen=True)
class TaskSpec:
    """A task as written in its YAML file."""

    task: str
    version: int
    description: str
    split: str
    metrics: tuple[str, ...]
    batch_size: int = 32
    settings: dict[str, Any] = field(default_factory=dict)  # the task's own counts and sizes (generation.yaml)


def load_task(path: Path) -> TaskSpec:
    """Parse and validate one task YAML (every metric must be registered)."""
    raw = yaml.safe_load(path.read_text())
    spec = TaskSpec(**{**raw, "metrics": tuple(raw["metrics"])})
    for m in spec.metrics:
        METRICS.get(m)
    return spec


TASKS: Registry[TaskSpec] = Registry("task")
for _path in sorted(Path(__file__).parent.glob("*.yaml")):
    _spec = load_task(_path)
    TASKS.add(_spec.task, _spec)
