"""Strict configuration loading shared by every config dataclass.

Configs are plain dataclasses filled from short YAML or JSON. An unknown key
is an error that names the closest valid key; ``--set a.b=c`` overrides use
:func:`apply_overrides`. YAML is read with ``yaml.safe_load`` only.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from asegen.errors import ConfigError, InputNotFoundError

__all__ = [
    "apply_overrides",
    "check_choice",
    "from_dict",
    "read_config_file",
    "unknown_key_error",
]

T = TypeVar("T")


def unknown_key_error(key: str, valid: Iterable[str], where: str) -> ConfigError:
    """Return the one-line error for ``key``, suggesting the closest valid key."""
    near = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    hint = f"; did you mean '{where}{near[0]}'?" if near else ""
    return ConfigError(f"unknown config key '{where}{key}'{hint}")


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise a :class:`ConfigError` naming ``name`` unless ``value`` is allowed."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"{name} must be one of {options}; got {value!r}")


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, strictly.

    Nested dataclass fields are filled recursively from nested mappings.
    Unknown keys raise :class:`~asegen.errors.ConfigError` naming the closest
    valid key; so do values the dataclass rejects in ``__post_init__``.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"'{where.rstrip('.') or 'config'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    values = {}
    for key, value in data.items():
        if key not in names:
            raise unknown_key_error(str(key), names, where)
        kind = hints[key]
        if dataclasses.is_dataclass(kind) and isinstance(value, Mapping):
            value = from_dict(kind, value, f"{where}{key}.")  # type: ignore[arg-type]
        values[key] = value
    try:
        return cls(**values)
    except TypeError as err:  # a missing required key
        raise ConfigError(f"{where.rstrip('.') or cls.__name__}: {err}") from None


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON file into a dictionary (YAML via ``safe_load``)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0]
        raise ConfigError(
            f"{path} is not valid {path.suffix[1:] or 'YAML'}: {first}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values")
    return data


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key=value`` / ``a.b=value`` overrides; values are parsed as YAML."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"override '{item}' must look like key=value or a.b=value"
            )
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section")
        node[leaf] = yaml.safe_load(raw)
    return data
