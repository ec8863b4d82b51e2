"""Strict configuration loading shared by every config dataclass.

Configs are plain dataclasses filled from short YAML or JSON. An unknown key
is an error that names the closest valid key, and every value is checked
against its field's type annotation (:func:`check_type`: a wrong type or a
NaN or infinite number is an error naming the key and the expected type);
``--set a.b=c`` overrides use :func:`apply_overrides`. YAML is read with
a safe loader only (``yaml.SafeLoader``, refusing
duplicate keys, and reading ``1e-3`` as the number YAML 1.2 makes it, not
the string YAML 1.1 does).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from asegen.errors import ConfigError, InputNotFoundError

__all__ = [
    "apply_overrides",
    "check_choice",
    "check_type",
    "describe_type",
    "from_dict",
    "parse_yaml",
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


def check_int(name: str, value: object, minimum: int) -> None:
    """Raise a :class:`ConfigError` unless ``value`` is an integer >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_positive(name: str, value: object) -> None:
    """Raise a :class:`ConfigError` unless ``value`` is a finite number > 0."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:  # type: ignore[arg-type]
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, strictly.

    Nested dataclass fields are filled recursively from nested mappings.
    Unknown keys raise :class:`~asegen.errors.ConfigError` naming the closest
    valid key; so do values of the wrong type (:func:`check_type`) and
    values the dataclass rejects in ``__post_init__``.
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
        else:
            check_type(f"{where}{key}", value, kind)
        values[key] = value
    try:
        return cls(**values)
    except TypeError as err:  # a missing required key
        raise ConfigError(f"{where.rstrip('.') or cls.__name__}: {err}") from None


def check_type(name: str, value: object, kind: Any) -> None:
    """Raise a :class:`ConfigError` unless ``value`` fits the annotation ``kind``.

    Understood annotations: ``int``, ``float`` (an int is accepted), ``bool``
    (never 0 or 1; and a bool is not a number), ``str`` (or a path),
    ``X | None``, unions of these, ``list[X]``, ``tuple[X, ...]`` (a list or
    tuple; lengths are the dataclass's to check), ``dict[K, V]`` and nested
    dataclasses (a mapping or an instance). Any other annotation (``Any``, a
    class) is not checked. A float anywhere, nested ones included, must be
    finite.

    Parameters
    ----------
    name
        The key as the user wrote it (``"train.seed"``), for the message.
    value
        The value given.
    kind
        The field's resolved annotation.
    """
    if not _fits(value, kind):
        raise ConfigError(f"{name} must be {describe_type(kind)}, got {value!r}")
    if _has_nonfinite(value):
        raise ConfigError(
            f"{name} must be finite ({describe_type(kind)}), got {value!r}; NaN and "
            "infinity are not allowed"
        )


def _options(kind: Any) -> tuple[Any, ...] | None:
    """Return the members of a union annotation, or ``None`` for any other."""
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(kind)
    return None


def _fits(value: object, kind: Any) -> bool:
    """Whether ``value`` fits ``kind``; annotations not understood always fit."""
    options = _options(kind)
    if options is not None:
        return any(_fits(value, option) for option in options)
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str | os.PathLike)
    if dataclasses.is_dataclass(kind):
        return isinstance(value, Mapping | kind)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return all(_fits(item, arg) for item, arg in zip(value, args, strict=False))
        return not args or all(_fits(item, args[0]) for item in value)
    if origin is dict:
        if not isinstance(value, Mapping):
            return False
        key_kind, value_kind = args or (Any, Any)
        return all(
            _fits(key, key_kind) and _fits(item, value_kind)
            for key, item in value.items()
        )
    return True


def describe_type(kind: Any) -> str:
    """Say in words what ``kind`` accepts: ``"an integer or null"``."""
    options = _options(kind)
    if options is not None:
        words = [
            describe_type(option) for option in options if option is not type(None)
        ]
        if type(None) in options:
            words.append("null")
        return " or ".join(words)
    simple = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        type(None): "null",
        Any: "a value",
    }
    if kind in simple:
        return simple[kind]
    if dataclasses.is_dataclass(kind):
        return "a mapping of keys to values"
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (list, tuple):
        items = _plural(describe_type(args[0])) if args else "values"
        return f"a list of {items}"
    if origin is dict:
        items = _plural(describe_type(args[1])) if args else "values"
        return f"a mapping of names to {items}"
    return str(kind)


def _plural(words: str) -> str:
    """Make a description plural: ``"an integer or null"`` -> ``"integers or null"``."""
    parts = []
    for part in words.split(" or "):
        head, _, rest = part.removeprefix("an ").removeprefix("a ").partition(" ")
        plain = head in ("null", "true", "false")
        parts.append(f"{head if plain else head + 's'} {rest}".strip())
    return " or ".join(parts)


def _has_nonfinite(value: object) -> bool:
    """Whether ``value`` is, or holds at any depth, a NaN or infinite float."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(_has_nonfinite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nonfinite(item) for item in value)
    return False


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping.

    It also reads exponents without a decimal point (``1e-3``, ``5E4``) as
    floats: YAML 1.1 makes them strings, so ``learning_rate: 1e-3`` would
    otherwise be refused as "not a number".
    """


def _unique_keys(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, typing.Hashable):
            continue  # construct_mapping reports it
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_keys
)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str) -> Any:
    """Return the value of YAML ``text``, read safely (see :class:`_StrictLoader`).

    Raises
    ------
    yaml.YAMLError
        If ``text`` is not valid YAML or gives a mapping key twice.
    """
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader


def _unique_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"the key {key!r} is given twice")
        data[key] = value
    return data


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON file into a dictionary (YAML via a safe loader).

    Raises
    ------
    InputNotFoundError
        If ``path`` is not a file.
    ConfigError
        If the file cannot be read (permissions, not text), is not valid YAML
        or JSON, gives a key twice, is empty, or holds no mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"config file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise ConfigError(
            f"config file {path}: permission denied; make it readable (chmod)"
        ) from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path} is not a text file (byte {err.start} is not UTF-8); "
            "give a YAML or JSON config"
        ) from None
    try:
        if path.suffix == ".json":
            data = json.loads(text, object_pairs_hook=_unique_json_keys)
        else:
            data = parse_yaml(text)
    except (ValueError, yaml.YAMLError) as err:
        mark = getattr(err, "problem_mark", None)
        where = "" if mark is None else f" (line {mark.line + 1})"
        first = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"{path} is not valid {path.suffix[1:] or 'YAML'}: {first}{where}"
        ) from None
    if data is None:
        raise ConfigError(f"{path} holds no settings; write the config in it")
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values")
    return data


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key=value`` / ``a.b=value`` overrides; values are parsed as YAML."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not all(key.split(".")):
            raise ConfigError(
                f"override '{item}' must look like key=value or a.b=value"
            )
        try:
            value = parse_yaml(raw)
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ConfigError(
                f"override '{item}': the value is not valid YAML ({problem}); "
                "quote it or complete it"
            ) from None
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is not a section")
        node[leaf] = value
    return data
