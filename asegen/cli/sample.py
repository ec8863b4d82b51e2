"""``asegen sample MODEL``: structures from a trained diffusion generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from asegen.cli._shard import shard_option

__all__ = ["sample"]


@click.command()
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option("--formula", help="Composition of the atoms to generate, e.g. Pd4O4.")
@click.option("--n-atoms", type=int, help="Number of atoms to generate (types free).")
@click.option(
    "-n", "--samples", "n_samples", type=int, default=10, show_default=True,
    help="Number of structures.",
)  # fmt: skip
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default="samples.xyz",
    show_default=True,
    help="Output file (.xyz/.extxyz, .db or .h5); appended to and resumed.",
)  # fmt: skip
@click.option(
    "--cell",
    help="Cell: a,b,c or a,b,c,alpha,beta,gamma (Å, degrees), or a structure "
    "file whose cell is used.",
)
@click.option(
    "--template",
    type=click.Path(path_type=Path),
    help="Structure whose atoms stay fixed; the new atoms are added to it.",
)
@click.option(
    "--confinement", nargs=2, type=float, metavar="LO HI",
    help="Heights (Å along the surface normal) for surface models.  [default: "
    "the template's info['confinement'], else the model's window above the "
    "template's highest atom]",
)  # fmt: skip
@click.option(
    "--property", "properties", multiple=True, metavar="NAME=VALUE",
    help="Conditioning value, e.g. --property energy_per_atom=-3.5; repeatable.",
)  # fmt: skip
@click.option(
    "--guidance", type=float, default=1.0, show_default=True,
    help="Classifier-free guidance weight (0 ignores the property).",
)  # fmt: skip
@click.option(
    "--steps", type=int,
    help="Reverse steps.  [default: the model's; 60 when it was trained with "
    "focused times (diffusion.time_focus, the default), else 100]",
)  # fmt: skip
@click.option(
    "--corrector/--no-corrector", default=True, show_default=True,
    help="A Langevin corrector step after every step.",
)  # fmt: skip
@click.option("--seed", type=int, help="Seed (default: the output's, else random).")
@click.option(
    "--batch-size", type=int, default=32, show_default=True,
    help="Structures integrated together.",
)  # fmt: skip
@click.option(
    "--device", default="auto", show_default=True, help="auto, cpu, cuda:0, ..."
)
@click.option(
    "--relax",
    metavar="CALC_SPEC",
    help="Relax every sample with this calculator (augment spec syntax, e.g. "
    "'+ase.calculators.emt.EMT()') and store its energy and forces.",
)
@click.option(
    "--fmax", type=float, default=0.05, show_default=True, help="Relaxation fmax, eV/Å."
)
@click.option(
    "--relax-steps", type=int, default=200, show_default=True,
    help="Relaxation steps at most.",
)  # fmt: skip
@shard_option
def sample(model: Path | None, **options: Any) -> None:
    """Generate structures with the diffusion model MODEL.

    MODEL is a run directory, a checkpoint or the name of a bundled model
    (`asegen info NAME` shows its card); without it, the bundled Pd-O bulk
    generator (pdo-bulk), or with --template the bundled generator of O on
    Pd slabs (pdo-surface: the template's atoms stay, O atoms are added).

    A surface model needs a window of heights for the new atoms: --confinement,
    else the template's info['confinement'], else the model's training window
    placed on the template's highest atom.

    Samples are appended to OUTPUT batch by batch, so an interrupted call
    keeps every finished batch; the same command then continues where it
    stopped, with the same seed and steps (read back from OUTPUT when
    --seed or --steps is not given).

    With --shard K/N (and --seed) only batches k with k % N == K-1 of the
    -n samples are drawn, into this shard's own OUTPUT; `asegen merge`
    joins the N outputs into what one process writes.

    \b
    Examples:
      asegen sample --formula Pd4O4 -n 10 -o pdo.xyz
      asegen sample logs/version_0 --formula Pd4O4 -n 100 -o pdo.xyz
      asegen sample logs/version_0 --formula Cu8 --cell 7.2,7.2,7.2 --seed 1
      asegen sample --template pd111.xyz --formula O2 -n 8 -o o_on_pd.xyz
      asegen sample slabs/version_0 --template slab.xyz --formula Pd2O2 \\
          --confinement 9.5 13.0 -o filled.xyz
      asegen sample logs/version_3 --formula Pd4O4 \\
          --property energy_per_atom=-3.5 --guidance 2
      asegen sample --formula Pd4O4 -n 1000 --seed 7 --shard 3/10 -o pdo.3.h5
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    from asegen.diffusion.sampling import run_sampling
    from asegen.pretrained import DEFAULTS

    if model is None:
        model = Path(DEFAULTS["surface" if options["template"] else "diffusion"])

    written, total = run_sampling(model, progress=None, **options)
    click.echo(f"wrote {written} structures to {options['output']} ({total} in total)")
