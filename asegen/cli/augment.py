"""``asegen augment CONFIG``: augment-atoms configs, run by asegen."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

from asegen.cli._shard import shard_option

__all__ = ["augment"]


@click.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes over starting structures (CPU calculators).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Families grown in lockstep (and structures per call at most) by a "
    "calculator with calculate_batch.  [default: the calculator's choice; "
    "asegen's: 32 on a GPU, 4 on a CPU]",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. --set config.seed=1.",
)
@shard_option
def augment(
    config: Path,
    workers: int,
    batch_size: int | None,
    overrides: tuple[str, ...],
    shard: str | None,
) -> None:
    """Grow labelled, off-equilibrium structures from the inputs of CONFIG.

    CONFIG is an augment-atoms config (sections data, config, model; see
    docs/augment.md). Relative paths and local calculator modules resolve
    against the folder the command runs in. Each structure is appended to
    data.output and flushed as soon as it is accepted; rerunning the same
    command tops every starting structure up to config.n_per_structure, also
    after Ctrl-C, kill or kill -9 (worker processes end with the command).

    With --shard K/N only starting structures i with i % N == K-1 are grown
    (give each shard its own data.output, e.g. with --set data.output=...);
    `asegen merge` joins the shards into what one run writes.

    \b
    Examples:
      asegen augment config.yaml
      asegen augment config.yaml --workers 2 --set config.seed=7
      asegen augment config.yaml --set config.wave_width=32 --batch-size 64
      asegen augment config.yaml --shard 2/8 --set data.output=out.2.h5
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    from asegen.augment import run_config

    stopped_by = [signal.SIGINT]

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped_by[0] = signal.Signals(signum)
        raise KeyboardInterrupt  # stop as on Ctrl-C: save what is finished

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        stats = run_config(
            config,
            workers=workers,
            batch_size=batch_size,
            overrides=overrides,
            progress=True,
            shard=shard,
        )
    except KeyboardInterrupt:
        click.echo("interrupted; rerun the same command to resume", err=True)
        raise SystemExit(128 + stopped_by[0]) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if stats.structures:
        click.echo(f"augment: {stats.summary()}")
    else:
        click.echo("augment: nothing to do; every family is already complete")
