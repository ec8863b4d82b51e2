"""The ``asegen`` command line: one click group, one module per subcommand.

Each subcommand is a thin wrapper over a public Python function; heavy imports
(torch, models) happen inside the command body so ``asegen --help`` is instant.
Before a subcommand runs (and so before torch is imported), the group tunes
the memory allocator for torch models (:func:`asegen.tune_allocator`; off with
``ASEGEN_TUNE_MALLOC=0``).
A user mistake (:class:`asegen.errors.AsegenError`, or an option click
refuses) is printed as one ``Error: ...`` line and exits with code 2; a
warning raised while a subcommand runs is one ``Warning: ...`` line on
stderr (Python's filters still decide which are shown).
"""

from __future__ import annotations

import warnings
from typing import Any, TextIO

import click

from asegen._version import __version__
from asegen.cli.augment import augment
from asegen.cli.convert import convert
from asegen.cli.distil import distil
from asegen.cli.evaluate import evaluate
from asegen.cli.export import export
from asegen.cli.info import info
from asegen.cli.merge import merge
from asegen.cli.place import place
from asegen.cli.sample import sample
from asegen.cli.train import train
from asegen.errors import AsegenError

__all__ = ["main"]


def _one_line(message: str) -> click.ClickException:
    """Return a click error printed as one ``Error: ...`` line, exit code 2."""
    failure = click.ClickException(message)
    failure.exit_code = 2
    return failure


def _usage_line(err: click.UsageError) -> click.ClickException:
    """Return click's usage error as one line pointing to the command's help."""
    where = err.ctx.command_path if err.ctx is not None else "asegen"
    return _one_line(f"{err.format_message()} (see '{where} --help')")


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Print a warning as one ``Warning: ...`` line, without its source line."""
    click.echo(f"Warning: {message}", err=True)


class AsegenGroup(click.Group):
    """A click group that answers every user mistake with one line and exit code 2.

    asegen's own mistakes (:class:`AsegenError`) and click's usage errors
    (an option value of the wrong type, an unknown option or command) alike.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        """Parse the group's own options; a usage error is one line."""
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as err:
            raise _usage_line(err) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, reporting user mistakes without a traceback."""
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _warning_line
                return super().invoke(ctx)
        except click.UsageError as err:
            raise _usage_line(err) from None
        except AsegenError as err:
            raise _one_line(str(err)) from None


@click.group(cls=AsegenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asegen")
def main() -> None:
    """asegen: ASE-first ML potentials, generators and dataset tools."""
    from asegen._allocator import tune_allocator

    tune_allocator()  # before a subcommand imports torch; the process is ours


main.add_command(augment)
main.add_command(convert)
main.add_command(distil)
main.add_command(evaluate)
main.add_command(export)
main.add_command(info)
main.add_command(merge)
main.add_command(place)
main.add_command(sample)
main.add_command(train)
