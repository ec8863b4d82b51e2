"""``asegen distil TEACHER_SPEC SEEDS --out DIR``: a universal potential made small."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

__all__ = ["distil"]

_SHORTCUTS = {
    "structures": "structures",
    "epochs": "train.epochs",
    "minutes": "train.max_minutes",
    "device": "train.device",
}


@click.command()
@click.argument("teacher_spec")
@click.argument("seeds", type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of the run: new, empty, or this run's (then it resumes).",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="A distil config (YAML/JSON): sections structures, augment, split, "
    "model, train, md; see docs/distil.md.",
)
@click.option(
    "-n",
    "--structures",
    type=click.IntRange(min=1),
    help="Augmented structures in all, seeds included, rounded up to whole "
    "families.  [default: 300]",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Override train.epochs.")
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Training budget in minutes (train.max_minutes).  [default: 20]",
)
@click.option("--device", help="Override train.device (auto, cpu, cuda:0, ...).")
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Augmenter worker processes over seeds (CPU teachers).",
)
@click.option(
    "--stop-after",
    type=click.Choice(["augment", "split", "train", "validate"]),
    help="Stop after this stage; rerun without it to go on.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. --set augment.T=800 --set "
    "model.hidden_features=32.",
)
def distil(
    teacher_spec: str,
    seeds: Path,
    out: Path,
    config: Path | None,
    workers: int,
    stop_after: str | None,
    overrides: tuple[str, ...],
    **shortcuts: object,
) -> None:
    """Distil TEACHER_SPEC into a small ALIGNN force field for SEEDS.

    TEACHER_SPEC is a calculator spec as augment configs write it:
    '+ase.calculators.emt.EMT()' or, quoted, a one-key mapping such as
    '{+chgnet.model.dynamics.CHGNetCalculator: {use_device: cpu}}'. SEEDS is
    any structure file (extxyz, HDF5, ...). The seeds are grown by the
    Augmenter with teacher labels (OUT/data/augmented.h5), split by family
    branch (OUT/data/{train,val,test}.h5), an ALIGNN force field is trained
    (OUT/train/version_0) and validated against the teacher on the test split
    and by NVE from each seed (OUT/validation), summarised in OUT/REPORT.md.

    Every stage resumes: rerun the same command after an interruption (Ctrl-C,
    kill, kill -9) and it goes on where it stopped; after the end it does
    nothing.

    \b
    Examples:
      asegen distil '{+chgnet.model.dynamics.CHGNetCalculator: {use_device: cpu}}' \\
          examples/data/pdo_seeds.xyz --out pdo-distil
      asegen distil '+ase.calculators.emt.EMT()' seeds.xyz --out emt -n 100 \\
          --minutes 5 --set model.hidden_features=32
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    from asegen.distil import distil as run_distil

    given = [
        f"{key}={value}"
        for name, key in _SHORTCUTS.items()
        if (value := shortcuts[name]) is not None
    ]
    stopped_by = [signal.SIGINT]

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped_by[0] = signal.Signals(signum)
        raise KeyboardInterrupt  # stop as on Ctrl-C: what is finished is kept

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        result = run_distil(
            teacher_spec,
            seeds,
            out,
            config=config,
            overrides=[*given, *overrides],
            workers=workers,
            stop_after=stop_after,
        )
    except KeyboardInterrupt:
        click.echo("interrupted; rerun the same command to resume", err=True)
        raise SystemExit(128 + stopped_by[0]) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if result.summary:
        click.echo(result.summary)
    else:
        click.echo(f"distil: stopped after {stop_after}; rerun without --stop-after")
