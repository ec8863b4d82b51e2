"""Sphinx extension: the command-line reference, generated from the click commands.

``.. asegen-cli:: asegen.cli:main`` (``:prog: asegen``) renders one section
per command and subcommand: its usage and help text exactly as ``--help``
prints them, then every argument and option with click's own help line, the
default always shown (as ``--help`` shows it for options marked
``show_default``). Help text is kept as plain text, never parsed as markup.
Made at every docs build, so it cannot drift from the code.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, ClassVar

import click
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

__all__ = ["command_nodes", "setup"]


def _import(spec: str) -> click.Command:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _entries(items: list[tuple[str, str]]) -> nodes.definition_list:
    """Return a definition list: each literal term, then its plain-text meaning."""
    listing = nodes.definition_list()
    for term, meaning in items:
        definition = nodes.definition("", nodes.paragraph(text=meaning))
        term_node = nodes.term("", "", nodes.literal(text=term))
        listing += nodes.definition_list_item("", term_node, definition)
    return listing


def _arguments(ctx: click.Context) -> list[tuple[str, str]]:
    """Each argument's metavar and whether it is required, repeatable."""
    out = []
    for param in ctx.command.get_params(ctx):
        if isinstance(param, click.Argument):
            words = ["required" if param.required else "optional"]
            if param.nargs == -1:
                words.append("any number")
            out.append((param.make_metavar(ctx), ", ".join(words)))
    return out


def command_nodes(
    name: str, command: click.Command, parent: click.Context | None = None
) -> list[nodes.section]:
    """Return the section of ``command`` and, nested in it, its subcommands'."""
    if command.hidden:
        return []
    settings = {**command.context_settings, "show_default": True}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    path = ctx.command_path
    section = nodes.section(
        "",
        nodes.title(text=path),
        ids=[nodes.make_id(path)],
        names=[nodes.fully_normalize_name(path)],
    )
    formatter = ctx.make_formatter()
    command.format_usage(ctx, formatter)
    command.format_help_text(ctx, formatter)
    section += nodes.literal_block(text=formatter.getvalue().rstrip())
    arguments = _arguments(ctx)
    if arguments:
        section += nodes.rubric(text="Arguments")
        section += _entries(arguments)
    options = [
        record
        for param in command.get_params(ctx)
        if isinstance(param, click.Option)
        and (record := param.get_help_record(ctx)) is not None
    ]
    section += nodes.rubric(text="Options")
    section += _entries(options)
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            section += command_nodes(sub, command.get_command(ctx, sub), ctx)
    return [section]


class CommandReference(SphinxDirective):
    """``.. asegen-cli:: module:group``: every command of a click group."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {"prog": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        """Return the sections of the group and all its subcommands."""
        command = _import(self.arguments[0])
        for module in _modules(command):
            self.env.note_dependency(module)  # rebuilt when a command changes
        return command_nodes(self.options.get("prog", command.name), command)


def _modules(command: click.Command) -> set[str]:
    """Return the source files of ``command`` and its subcommands."""
    files = {inspect.getfile(command.callback)} if command.callback else set()
    for sub in getattr(command, "commands", {}).values():
        files |= _modules(sub)
    return files


def setup(app: Any) -> dict[str, Any]:
    """Register the ``asegen-cli`` directive."""
    app.add_directive("asegen-cli", CommandReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
