"""``asegen train MODEL``: one subcommand per model, with shared options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["train"]


def training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options every ``asegen train MODEL`` command shares."""
    options = [
        click.argument("config", required=False, type=click.Path(path_type=Path)),
        click.option(
            "--data",
            required=True,
            type=click.Path(path_type=Path),
            help="Training structures: asegen HDF5, any ASE-readable file, or an "
            "alignn folder with id_prop.json.",
        ),
        click.option(
            "--val",
            type=click.Path(path_type=Path),
            help="Separate validation structures (else split from --data).",
        ),
        click.option(
            "--out",
            default="logs",
            show_default=True,
            type=click.Path(path_type=Path),
            help="Parent directory of the run (OUT/version_N).",
        ),
        click.option("--epochs", type=int, help="Override train.epochs."),
        click.option("--batch-size", type=int, help="Override train.batch_size."),
        click.option("--lr", type=float, help="Override train.learning_rate."),
        click.option("--seed", type=int, help="Override train.seed."),
        click.option(
            "--device", help="Override train.device (auto, cpu, cuda:0, ...)."
        ),
        click.option("--workers", type=int, help="Override train.num_workers."),
        click.option(
            "--resume",
            is_flag=True,
            help="Continue the newest run in OUT from checkpoints/last.pt.",
        ),
        click.option(
            "--set",
            "overrides",
            multiple=True,
            metavar="KEY=VALUE",
            help="Override any config field, e.g. --set model.cutoff=4.5.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run(model: str, config: Path | None, **options: Any) -> None:
    from asegen.train.runner import train_from_config

    shortcuts = {
        "epochs": "epochs",
        "batch_size": "batch_size",
        "lr": "learning_rate",
        "seed": "seed",
        "device": "device",
        "workers": "num_workers",
    }
    overrides = [
        f"train.{field}={options[flag]}"
        for flag, field in shortcuts.items()
        if options[flag] is not None
    ]
    run = train_from_config(
        model,
        config,
        data=options["data"],
        val=options["val"],
        out=options["out"],
        resume=options["resume"],
        overrides=[*overrides, *options["overrides"]],
    )
    click.echo(f"run directory: {run}")


@click.group()
def train() -> None:
    """Train a model; every subcommand shares the same options."""


@train.command("alignn")
@training_options
def train_alignn(config: Path | None, **options: Any) -> None:
    """Train an ALIGNN force field.

    CONFIG is an optional YAML/JSON file with `model` (ALIGNN options) and
    `train` (engine options) sections; an alignn config.json works unchanged.
    The run goes to OUT/version_N: hparams.yaml, checkpoints/best.pt and
    last.pt, metrics.csv, test predictions and PNG plots.
    """
    _run("alignn", config, **options)
