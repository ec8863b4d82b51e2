"""``asegen merge OUT SHARDS...``: join shard outputs into the one-process output."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["merge"]


@click.command()
@click.argument("output", type=click.Path(path_type=Path))
@click.argument("shards", nargs=-1, required=True, type=click.Path(path_type=Path))
def merge(output: Path, shards: tuple[Path, ...]) -> None:
    """Join the SHARDS of one `--shard K/N` run into the new file OUTPUT.

    SHARDS are the outputs of `asegen augment`, `asegen sample` or `asegen
    place` run with --shard K/N, one per shard, in any order and format
    (.xyz/.extxyz, .db, .h5). Each structure is kept once (by its unit id,
    never by geometry) and they are ordered as one process writes them, so
    OUTPUT equals the output of the same command run without --shard.
    Inputs of other runs (settings, inputs, model or seed), a missing or
    repeated shard, or an OUTPUT that exists already are refused. OUTPUT is
    written to OUTPUT.partial and renamed at the end.

    \b
    Examples:
      asegen merge all.h5 out.1.h5 out.2.h5 out.3.h5
      asegen merge samples.xyz samples.*.h5
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    from asegen.augment.merge import merge as merge_shards

    summary = merge_shards(output, shards)
    click.echo(summary.line(output))
