"""The ``asegen`` command line: one click group, one module per subcommand.

Each subcommand is a thin wrapper over a public Python function; heavy imports
(torch, models) happen inside the command body so ``asegen --help`` is instant.
Before a subcommand runs (and so before torch is imported), the group tunes
the memory allocator for torch models (:func:`asegen.tune_allocator`; off with
``ASEGEN_TUNE_MALLOC=0``).
A user mistake (:class:`asegen.errors.AsegenError`) is printed as one
``Error: ...`` line and exits with code 2.
"""

from __future__ import annotations

from typing import Any

import click

from asegen._version import __version__
from asegen.cli.augment import augment
from asegen.cli.convert import convert
from asegen.cli.evaluate import evaluate
from asegen.cli.export import export
from asegen.cli.info import info
from asegen.cli.place import place
from asegen.cli.sample import sample
from asegen.cli.train import train
from asegen.errors import AsegenError

__all__ = ["main"]


class AsegenGroup(click.Group):
    """A click group that turns :class:`AsegenError` into one line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, reporting user mistakes without a traceback."""
        try:
            return super().invoke(ctx)
        except AsegenError as err:
            failure = click.ClickException(str(err))
            failure.exit_code = 2
            raise failure from None


@click.group(cls=AsegenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asegen")
def main() -> None:
    """asegen: ASE-first ML potentials, generators and dataset tools."""
    from asegen._allocator import tune_allocator

    tune_allocator()  # before a subcommand imports torch; the process is ours


main.add_command(augment)
main.add_command(convert)
main.add_command(evaluate)
main.add_command(export)
main.add_command(info)
main.add_command(place)
main.add_command(sample)
main.add_command(train)
