"""Stages of made-up kinds for launcher, store and integrity tests: a spec whose kind is a field."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.stages.base import Stage, StageSpec

FAKE_RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {}  # kind -> what its stages do (tests add their own)


@dataclass(frozen=True)
class FakeSpec(StageSpec):
    """A spec of any kind name; `x` stands for its config, `upstream` for its inputs."""

    INPUTS = ("upstream",)
    kind: str = "_fake"
    x: Any = None
    upstream: tuple[str, ...] = ()

    @property
    def KIND(self) -> str:  # type: ignore[override]  # the kind is data here, a class constant in real specs
        return self.kind

    def run(self, stage: Stage, out: Any, rt: Any, device: Any) -> dict[str, Any]:
        return FAKE_RUNNERS[self.kind](stage, out, rt, device)


def fake_stage(kind: str, name: str, x: Any = None, labels: dict[str, str] | None = None,
               inputs: tuple[str, ...] = ()) -> Stage:
    """A Stage of kind `kind` (named like a real kind where a test needs the kind's launch rules)."""
    spec = FakeSpec(kind, x, tuple(inputs))
    assert spec.upstream == spec.inputs  # INPUTS names the field
    return Stage(name, spec, dict(labels or {}))
