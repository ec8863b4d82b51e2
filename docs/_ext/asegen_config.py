"""Sphinx extension: the config reference, generated from the config dataclasses.

``.. asegen-config:: asegen.train.TrainConfig`` (inside an ``eval-rst`` block)
renders one table row per key of the dataclass: the key as a user writes it
(``:prefix:`` first, nested dataclasses expanded to ``a.b``), the type in the
words the config errors use (:func:`asegen._config.describe_type`), the default
and the description from the class docstring's ``Attributes`` section. The
page is made at every docs build, so it cannot drift from the code; a key
without a description fails the build (and ``tests/test_docs_reference.py``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import re
import typing
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from asegen._config import describe_type

__all__ = ["config_rows", "field_descriptions", "setup"]

_HEADER = re.compile(r"^-{3,}$")
_LONG = 24  # characters: a longer default is shown under the description


def field_descriptions(cls: type) -> dict[str, str]:
    """Return each attribute's description from the ``Attributes`` section.

    An entry may name several fields (``n_train, n_val, n_test``); they share
    its description.
    """
    lines = (inspect.getdoc(cls) or "").splitlines()
    found: dict[str, list[str]] = {}
    inside, names = False, []
    for k, line in enumerate(lines):
        following = lines[k + 1] if k + 1 < len(lines) else ""
        if _HEADER.match(following.strip()):  # a section title
            inside = line.strip() == "Attributes"
            names = []
            continue
        if not inside or _HEADER.match(line.strip()):
            continue
        if line and not line[0].isspace():
            names = [name.strip() for name in line.split(",")]
            for name in names:
                found[name] = []
        elif names:
            for name in names:
                found[name].append(line.strip())
    return {name: " ".join(filter(None, text)) for name, text in found.items()}


def _default(field: dataclasses.Field) -> str:
    """Return the default as a user writes it in YAML (``required``: none)."""
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "required"
    return json.dumps(value, ensure_ascii=False)


def config_rows(
    cls: type, prefix: str = "", required: tuple[str, ...] = ()
) -> list[tuple[str, str, str, str]]:
    """Return ``(key, type, default, description)`` for every key of ``cls``.

    A field holding a dataclass is expanded into its own keys. ``required``
    names keys that a config file must give although the class has a default.

    Raises
    ------
    ValueError
        If a field has no description in its class's docstring.
    """
    hints = typing.get_type_hints(cls)
    described = field_descriptions(cls)
    rows = []
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(kind):
            rows += config_rows(kind, f"{key}.")
            continue
        if not described.get(field.name):
            raise ValueError(
                f"{cls.__module__}.{cls.__qualname__}.{field.name} has no "
                "description; add it to the class docstring's Attributes section"
            )
        default = "required" if field.name in required else _default(field)
        rows.append((key, describe_type(kind), default, described[field.name]))
    return rows


def _import(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


class ConfigTable(SphinxDirective):
    """``.. asegen-config:: module.Class``: the table of a config dataclass."""

    required_arguments = 1
    option_spec: typing.ClassVar[dict[str, Any]] = {
        "prefix": directives.unchanged,
        "required": directives.unchanged,
    }

    def run(self) -> list[nodes.Node]:
        """Build the table as a reStructuredText list-table and parse it."""
        cls = _import(self.arguments[0])
        required = self.options.get("required")
        keys = tuple(_import(required)) if required else ()
        try:
            rows = config_rows(cls, self.options.get("prefix", ""), keys)
        except ValueError as err:
            raise self.error(str(err)) from None
        text = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 20 18 12 50",
            "",
            "   * - key",
            "     - type",
            "     - default",
            "     - meaning",
        ]
        for key, kind, default, description in rows:
            shown = default if default == "required" else f"``{default}``"
            if len(default) > _LONG:  # a mapping: too wide for its column
                description += f" Default: ``{default}``."
                shown = "below"
            text += [
                f"   * - ``{key}``",
                f"     - {kind}",
                f"     - {shown}",
                f"     - {description}",
            ]
        container = nodes.container()
        self.state.nested_parse(
            StringList(text, self.get_source_info()[0]), 0, container
        )
        for source in _sources(cls):  # reread when a config class changes
            self.env.note_dependency(source)
        return container.children


def _sources(cls: type) -> set[str]:
    """Return the source files of ``cls`` and of the dataclasses it nests."""
    hints = typing.get_type_hints(cls)
    files = {inspect.getfile(cls)}
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[field.name]):
            files |= _sources(hints[field.name])
    return files


def setup(app: Any) -> dict[str, Any]:
    """Register the ``asegen-config`` directive."""
    app.add_directive("asegen-config", ConfigTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
