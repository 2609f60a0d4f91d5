"""A typed, timm/lm-eval style registry: named entries, listing, collision errors, did-you-mean.

The one registry style of vqbench: every name -> implementation table (tokenizers, quantizers, datasets, metrics,
tasks, launchers, converters, tokenizer builders, discriminator losses, actions, ...) is a `Registry`, never a bare
dict, so every lookup fails the same way (naming the valid choices) and tests extend it through `added`."""
from __future__ import annotations

import contextlib
import difflib
import fnmatch
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """Unknown or colliding registry name; the message says what was expected."""

    def __str__(self) -> str:  # KeyError would repr() the message, quoting it
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps a unique name to an entry (a factory function or a spec object)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register `fn` under `name` (default: its __name__)."""

        def deco(entry: T) -> T:
            self.add(name or getattr(entry, "__name__"), entry)  # noqa: B009  (T is any entry; mypy sees no __name__)
            return entry

        return deco

    def add(self, name: str, entry: T) -> None:
        """Add one entry; a second entry under the same name is an error, not an overwrite."""
        if name in self._entries:
            raise RegistryError(f"{self.kind} '{name}' is already registered; pick another name")
        self._entries[name] = entry

    def remove(self, name: str) -> T:
        """Take an entry out again, returning it; an unknown name is an error (as for get)."""
        entry = self.get(name)
        del self._entries[name]
        return entry

    @contextlib.contextmanager
    def added(self, name: str, entry: T) -> Iterator[T]:
        """`with REGISTRY.added(name, entry):` the entry is registered inside the block only (a test's own
        extension, so registry-wide tests and suites never see it)."""
        self.add(name, entry)
        try:
            yield entry
        finally:
            self._entries.pop(name, None)

    @contextlib.contextmanager
    def replaced(self, name: str, entry: T) -> Iterator[T]:
        """`with REGISTRY.replaced(name, entry):` an existing entry swapped for `entry` inside the block only (a
        test's broken variant); the original is back afterwards."""
        original = self.remove(name)
        try:
            with self.added(name, entry):
                yield entry
        finally:
            self.add(name, original)

    def get(self, name: str) -> T:
        """Look an entry up, or fail naming the valid choices and the closest ones."""
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(unknown_name_message(self.kind, name, self.names())) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a glob pattern, like timm.list_models('vqgan*')."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def unknown_name_message(kind: str, name: str, choices: list[str]) -> str:
    """'unknown X' message with did-you-mean suggestions and the full list of valid choices."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} '{name}'.{hint} Valid {kind} names: {', '.join(choices) or '(none registered)'}"
