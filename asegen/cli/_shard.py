"""The ``--shard K/N`` option of ``asegen augment``, ``sample`` and ``place``."""

from __future__ import annotations

import click

__all__ = ["shard_option"]

shard_option = click.option(
    "--shard",
    metavar="K/N",
    help="Do shard K of N of the run (a job array's task K, 1-based) into "
    "its own output; `asegen merge` combines the N outputs into the "
    "one-process output.",
)
