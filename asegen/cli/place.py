"""``asegen place MODEL``: structures built atom by atom by a trained placer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from asegen.cli._shard import shard_option

__all__ = ["place"]


@click.command()
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option(
    "-n", "--attempts", "n", type=click.IntRange(min=1), default=100,
    show_default=True,
    help="Structures to attempt; failed attempts (max atoms reached) are "
    "counted, not written.",
)  # fmt: skip
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default="placed.xyz",
    show_default=True,
    help="Output file (.xyz/.extxyz, .db or .h5); appended batch by batch and "
    "resumed.",
)  # fmt: skip
@click.option(
    "--condition", "conditions", multiple=True, metavar="NAME=VALUE",
    help="Target of a condition the model was trained with, e.g. gap=4.0, "
    "composition=C7O2H10, fingerprint=0,1,1; repeatable.",
)  # fmt: skip
@click.option(
    "--template", type=click.Path(path_type=Path),
    help="Structure to extend (one; a molecule fragment or a periodic slab): "
    "its atoms never move.",
)  # fmt: skip
@click.option(
    "--max-n-atoms", type=click.IntRange(min=1), default=35, show_default=True,
    help="Most atoms per structure, template included.",
)  # fmt: skip
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=100, show_default=True,
    help="Structures built together.",
)  # fmt: skip
@click.option(
    "--temperature", type=float, default=0.1, show_default=True,
    help="T of the position distribution p^(1/T); lower is sharper.",
)  # fmt: skip
@click.option(
    "--grid-spacing", type=float, default=0.05, show_default=True,
    help="Spacing of the candidate positions around the focus, Å.",
)  # fmt: skip
@click.option(
    "--grid-distance-min", type=float, default=0.7, show_default=True,
    help="Smallest distance of a new atom from its focus, Å.",
)  # fmt: skip
@click.option(
    "--seed", type=click.IntRange(min=0),
    help="Seed, 0 or more (default: the output's, else random).",
)  # fmt: skip
@click.option(
    "--device", default="auto", show_default=True, help="auto, cpu, cuda:0, ..."
)
@shard_option
def place(model: Path | None, **options: Any) -> None:
    """Build structures atom by atom with the placer MODEL.

    MODEL is a run directory, a checkpoint or the name of a bundled model
    (`asegen info NAME` shows its card); without it, the bundled molecule
    placer (qm9, trained on QM9 molecules of up to 9 heavy atoms).

    Finished structures are appended to OUTPUT batch by batch, so an
    interrupted call keeps every finished batch; the same command continues
    where it stopped, with the same seed (read back from OUTPUT when --seed
    is not given). The settings and conditions are stored in each
    structure's info.

    With --shard K/N (and --seed) only batches k with k % N == K-1 of the
    -n attempts are built, into this shard's own OUTPUT; `asegen merge`
    joins the N outputs into what one process writes.

    \b
    Examples:
      asegen place -n 100 -o molecules.xyz
      asegen place logs/version_0 -n 1000 --batch-size 500 -o gen.db
      asegen place logs/version_2 -n 200 --condition gap=4.0 -o gap4.xyz
      asegen place logs/version_0 -n 50 --template fragment.xyz -o grown.xyz
      asegen place -n 10000 --seed 1 --shard 2/4 -o placed.2.h5
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    from asegen.placer.placing import parse_conditions, run_placing
    from asegen.pretrained import DEFAULTS

    model = model or Path(DEFAULTS["placer"])
    conditions = parse_conditions(options.pop("conditions"))
    summary = run_placing(model, conditions=conditions, **options)
    click.echo(
        f"placed {summary.written} structures in {summary.attempts} attempts "
        f"({summary.failed} failed: {options['max_n_atoms']} atoms reached "
        f"unfinished); {options['output']} holds {summary.total}"
    )
