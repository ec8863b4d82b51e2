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


_SHORTCUTS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "learning_rate",
    "seed": "seed",
    "device": "device",
    "workers": "num_workers",
}


def _shortcuts(options: dict[str, Any]) -> list[tuple[str, Any]]:
    """Return the ``train`` fields set by the shortcut options given."""
    return [
        (field, options[flag])
        for flag, field in _SHORTCUTS.items()
        if options[flag] is not None
    ]


def _run(
    model: str, config: Path | None, extra: tuple[str, ...] = (), **options: Any
) -> None:
    from asegen.train.runner import train_from_config

    overrides = [f"train.{field}={value}" for field, value in _shortcuts(options)]
    run = train_from_config(
        model,
        config,
        data=options["data"],
        val=options["val"],
        out=options["out"],
        resume=options["resume"],
        overrides=[*overrides, *extra, *options["overrides"]],
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


@train.command("diffusion")
@training_options
@click.option(
    "--noiser",
    type=click.Choice(["gas", "periodic", "surface"]),
    help="How positions diffuse: molecules and clusters, bulk crystals, or slabs "
    "(in-plane periodic, heights confined).  [default: periodic]",
)
@click.option(
    "--types/--no-types",
    default=None,
    help="Diffuse atom types (else samples need their elements).  [default: types]",
)
@click.option(
    "--cell/--no-cell",
    default=None,
    help="Diffuse the cell (bulk only; else samples need --cell or a template).  "
    "[default: on for periodic]",
)
@click.option(
    "--conditioning",
    multiple=True,
    metavar="NAME",
    help="Condition on a property read from atoms.info[NAME] or a calculator "
    "result (energy, energy_per_atom, ...); repeatable.",
)
@click.option(
    "--conditioning-type",
    type=click.Choice(["scalar", "integer"]),
    default="scalar",
    show_default=True,
    help="Kind of the --conditioning properties.",
)
@click.option(
    "--p-uncond",
    type=float,
    help="Probability of training without the properties (classifier-free "
    "guidance).  [default: 0.2]",
)
@click.option(
    "--finetune",
    type=click.Path(path_type=Path),
    metavar="BASE_RUN",
    help="Teach the trained generator BASE_RUN the --conditioning properties: "
    "it stays frozen and only a zero-started adapter per property trains.",
)
@click.option("--repeat", type=int, help="Tile periodic cells up to R x R x 1.")
@click.option("--repeat-epoch", type=int, help="Epochs per tiling phase.")
def train_diffusion(config: Path | None, **options: Any) -> None:
    """Train a score-based diffusion generator of structures.

    CONFIG is an optional YAML/JSON file with `model` (score network),
    `train` (engine) and `diffusion` (noisers, conditioning) sections; the
    options below override the `diffusion` section. The run goes to
    OUT/version_N like every model's; sample from it with `asegen sample`.

    \b
    Examples:
      asegen train diffusion --data bulk.h5 --epochs 200
      asegen train diffusion --data slabs.h5 --noiser surface --no-cell \\
          --set diffusion.confinement=[9.5,13.0]
      asegen train diffusion run.yaml --data bulk.h5 --conditioning energy_per_atom
      asegen train diffusion --finetune logs/version_0 --data labelled.h5 \\
          --conditioning band_gap --epochs 50
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    base = options.pop("finetune")
    if base is not None:
        _finetune(base, config, options)
        return
    extra = []
    for flag in ("noiser", "types", "cell", "p_uncond", "repeat", "repeat_epoch"):
        if options.get(flag) is not None:
            extra.append(f"diffusion.{flag}={options[flag]}")
    kind = options.pop("conditioning_type")
    for name in options.pop("conditioning"):
        extra.append(f"diffusion.conditioning.{name}={kind}")
    for flag in ("noiser", "types", "cell", "p_uncond", "repeat", "repeat_epoch"):
        options.pop(flag)
    _run("score", config, tuple(extra), **options)


@train.command("placer")
@training_options
@click.option(
    "--draw-random-samples",
    type=int,
    help="Trajectory steps kept per structure and epoch (0: all).  [default: 10]",
)
@click.option(
    "--condition",
    "conditions",
    multiple=True,
    metavar="NAME",
    help="Condition on atoms.info[NAME] (or relative_atomic_energy, composition); "
    "repeatable.",
)
@click.option(
    "--condition-type",
    type=click.Choice(["scalar", "vector", "composition"]),
    default="scalar",
    show_default=True,
    help="Kind of the --condition values (composition: the name 'composition').",
)
def train_placer(config: Path | None, **options: Any) -> None:
    """Train a cG-SchNet placer that builds structures atom by atom.

    CONFIG is an optional YAML/JSON file with `model` (cG-SchNet network:
    cutoffs, atom_types, sizes, conditions), `train` (engine) and `placer`
    (trajectories, conditions) sections. The run goes to OUT/version_N like
    every model's; generate from it with `asegen place`.

    \b
    Examples:
      asegen train placer --data molecules.h5 --epochs 100
      asegen train placer run.yaml --data molecules.h5 --condition gap
      asegen train placer --data molecules.h5 --condition composition \\
          --condition-type composition
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    from asegen.errors import ConfigError

    extra = []
    k = options.pop("draw_random_samples")
    if k is not None:
        extra.append(f"placer.draw_random_samples={k}")
    kind = options.pop("condition_type")
    for name in options.pop("conditions"):
        if kind == "composition" and name != "composition":
            raise ConfigError(
                f"--condition {name} --condition-type composition would ignore "
                f"atoms.info['{name}'] (a composition comes from the atoms): name it "
                "composition, or use --condition-type scalar or vector"
            )
        extra.append(f"placer.conditions.{name}={kind}")
    _run("gschnet", config, tuple(extra), **options)


def _finetune(base: Path, config: Path | None, options: dict[str, Any]) -> None:
    """``--finetune``: adapters for the --conditioning properties on BASE."""
    from asegen.diffusion.finetune import finetune_diffusion
    from asegen.errors import ConfigError

    names = options["conditioning"]
    if not names:
        raise ConfigError("--finetune needs the new properties: --conditioning NAME")
    ignored = [
        f for f in ("noiser", "types", "cell", "repeat") if options[f] is not None
    ]
    if ignored:
        raise ConfigError(
            f"--finetune keeps the base model's process; drop --{ignored[0]}"
        )
    from asegen._config import apply_overrides, read_config_file

    section = dict(_shortcuts(options))

    raw = {} if config is None else read_config_file(config)
    raw["train"] = {**dict(raw.get("train") or {}), **section}
    apply_overrides(raw, options["overrides"])
    run = finetune_diffusion(
        base,
        options["data"],
        dict.fromkeys(names, options["conditioning_type"]),
        raw,
        val=options["val"],
        out=options["out"],
        resume=options["resume"],
    )
    click.echo(f"run directory: {run}")
