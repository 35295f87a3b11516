"""String-keyed registries with lazy ``"module:attr"`` targets (the spaCy / lm-eval pattern).

Registering a lazy target does not import it, so ``import caption_audit`` stays light even
when a backend needs torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from caption_audit.errors import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table. Targets may be objects or lazy ``"module:attr"`` strings."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T | str] = {}

    def register(self, name: str, target: T | str | None = None) -> Callable[[T], T] | None:
        """Register ``target`` under ``name``; without a target, acts as a decorator."""
        if target is not None:
            self._items[name] = target
            return None

        def deco(obj: T) -> T:
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, importing it if lazy."""
        if name not in self._items:
            raise unknown_name(self.kind, name, list(self._items))
        item = self._items[name]
        if isinstance(item, str) and ":" in item:
            module, attr = item.split(":", 1)
            item = getattr(importlib.import_module(module), attr)
            self._items[name] = item
        return item  # type: ignore[return-value]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Registry({self.kind!r}, {self.names()})"

