"""Validate config values against dataclass type hints, with ranges and choices declared once per field.

Fields declare what they accept in their annotation, e.g. `steps: Annotated[int, Ge(1)]` or
`schedule: Literal["constant", "cosine"]`; `check_value` checks a value with pydantic in strict mode (no
'3.5' -> 3, no 'abc' -> error 24 s later), refuses inf and nan in every float, and raises ConfigValueError
naming the key, the value and what is allowed. Values are only checked, never converted, so the config a stage
hashes stays as given.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError


class ConfigValueError(ValueError):
    """A config value of the wrong type or out of range; the message names key, value and what is allowed."""


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """Resolved type hints (with Annotated metadata) of a dataclass's fields."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


@functools.cache
def _adapter(tp: Any) -> TypeAdapter:
    return TypeAdapter(tp)


def _tuples(value: Any) -> Any:
    """YAML and Hydra give lists where the dataclasses hold tuples."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def describe(tp: Any) -> str:
    """Human wording of a type: 'int >= 1', "one of 'a', 'b'", 'float in [0, 1]', '... or null'."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(tp)
        bounds = []
        for m in meta:
            for attr, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                if getattr(m, attr, None) is not None:
                    bounds.append(f"{op} {getattr(m, attr)}")
        return describe(base) + (" " + " and ".join(bounds) if bounds else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        rest = [describe(a) for a in args if a is not type(None)]
        return " or ".join(rest) + (" or null" if len(rest) < len(args) else "")
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {describe(args[0])}"
        return "a list [" + ", ".join(describe(a) for a in args) + "]"
    return getattr(tp, "__name__", str(tp))


def _non_finite(value: Any) -> bool:
    """Whether `value` is, or holds, an inf or nan float (Gt(0) alone lets inf through: eps=inf never trains)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    return False


def check_value(key: str, tp: Any, value: Any) -> None:
    """Raise ConfigValueError unless `value` is a valid `tp` (strict: no string or float-to-int coercion) and every
    float in it is finite."""
    try:
        _adapter(tp).validate_python(_tuples(value), strict=True)
    except ValidationError as err:
        why = "; ".join(e["msg"] for e in err.errors()[:2])
        raise ConfigValueError(f"invalid value for '{key}': {value!r} ({why}); allowed: {describe(tp)}") from None
    if _non_finite(value):
        raise ConfigValueError(f"invalid value for '{key}': {value!r} (must be a finite number); allowed: "
                               f"{describe(tp)}")


def lookup(cls: type, path: list[str]) -> Any | None:
    """The declared type of a dotted field path inside a (nested) dataclass, or None when it declares none."""
    tp: Any = cls
    for part in path:
        if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)) or part not in field_types(tp):
            return None
        tp = field_types(tp)[part]
    return tp


def check_fields(prefix: str, cls: type, values: dict[str, Any], null_ok: bool = False) -> None:
    """Check every declared field of a (nested) dict against `cls`; `null_ok`: None means 'keep the default'."""
    for name, value in values.items():
        tp = lookup(cls, [name])
        if tp is None or (null_ok and value is None):
            continue
        if isinstance(value, dict) and dataclasses.is_dataclass(tp):
            check_fields(f"{prefix}.{name}", tp, value, null_ok)
        else:
            check_value(f"{prefix}.{name}", tp, value)

