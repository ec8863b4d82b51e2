"""Name-to-class registries (models, tasks): one decorator factory for both."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

__all__ = ["registrar"]

Registered = TypeVar("Registered", bound=type)


def registrar(
    table: dict[str, type], attribute: str, name: str
) -> Callable[[Registered], Registered]:
    """Return a class decorator that files a class in ``table`` under ``name``.

    The class also gets ``name`` as its ``attribute`` (``model_name``,
    ``name``), so it knows what it is stored under.
    """

    def decorate(cls: Registered) -> Registered:
        setattr(cls, attribute, name)
        table[name] = cls
        return cls

    return decorate
