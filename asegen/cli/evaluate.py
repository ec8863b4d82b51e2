"""``asegen evaluate``: score generated structures against a reference set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["evaluate"]


@click.command()
@click.argument("samples", type=click.Path(path_type=Path))
@click.option(
    "--reference",
    "-r",
    required=True,
    type=click.Path(path_type=Path),
    help="Reference (training) structures: sets the validity threshold, decides "
    "novelty and, with energy labels, the convex hull.",
)
@click.option(
    "--calculator",
    default=None,
    metavar="SPEC",
    help="ASE calculator to relax the samples with, as in augment configs: "
    "'+ase.calculators.emt.EMT()' or a YAML mapping '{+module.Calc: {k: v}}'.",
)
@click.option("--formula", default=None, help="Requested composition of new atoms.")
@click.option(
    "--template",
    type=click.Path(path_type=Path),
    default=None,
    help="Template the samples were built on (its first structure); its atoms "
    "must come first and stay unchanged.",
)
@click.option(
    "--n-template",
    type=click.IntRange(min=0),
    default=None,
    help="Leading template atoms: left out of the composition match, held in "
    "relaxation.  [default: the template's atom count, or 0]",
)
@click.option(
    "--confinement",
    nargs=2,
    type=float,
    default=None,
    metavar="LO HI",
    help="z window (Å) of the mobile atoms (after the template, not in "
    "FixAtoms).  [default: each sample's info['confinement']]",
)
@click.option(
    "--steps",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Most relaxation steps per sample.",
)
@click.option(
    "--fmax",
    type=click.FloatRange(min=0),
    default=0.05,
    show_default=True,
    help="Relaxation ends below this largest force (eV/Å).",
)
@click.option(
    "--optimizer",
    type=click.Choice(["FIRE", "BFGS"]),
    default="FIRE",
    show_default=True,
    help="ase.optimize optimizer of the relaxation (cell fixed).",
)
@click.option(
    "--hull-threshold",
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help="eV/atom above the reference hull that still counts as stable.",
)
@click.option(
    "--validity-factor",
    type=click.FloatRange(min=0),
    default=0.7,
    show_default=True,
    help="Valid: minimum pair distance > factor x the reference's.",
)
@click.option(
    "--match-tol",
    type=click.FloatRange(min=0),
    default=0.05,
    show_default=True,
    help="Fingerprint distance below which two structures match.",
)
@click.option(
    "--matcher",
    type=click.Choice(["fingerprint", "pymatgen"]),
    default="fingerprint",
    show_default=True,
    help="Duplicate test; pymatgen's StructureMatcher needs pymatgen installed.",
)
@click.option(
    "--recompute-reference",
    is_flag=True,
    help="Compute reference energies with --calculator even where labelled.",
)
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    default=Path("evaluation.png"),
    show_default=True,
    help="PNG of the distributions.",
)
@click.option("--no-plot", is_flag=True, help="Write no PNG.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write settings, summary and per-sample values as JSON.",
)
def evaluate(
    samples: Path,
    reference: Path,
    calculator: str | None,
    formula: str | None,
    template: Path | None,
    n_template: int | None,
    confinement: tuple[float, float] | None,
    steps: int,
    fmax: float,
    optimizer: str,
    hull_threshold: float,
    validity_factor: float,
    match_tol: float,
    matcher: str,
    recompute_reference: bool,
    plot: Path,
    no_plot: bool,
    json_path: Path | None,
) -> None:
    """Evaluate generated SAMPLES against the --reference set.

    Prints a table of validity (minimum pair distance against the
    reference's), atoms inside the cell, template and confinement checks,
    composition match, charge neutrality, uniqueness and novelty, and, with
    --calculator, energies after relaxation (cell fixed, FixAtoms respected)
    and the fraction within --hull-threshold of the reference's convex hull.
    SAMPLES and --reference are any file ASE reads, asegen HDF5, or folders.

    \b
    Examples:
      asegen evaluate samples.xyz --reference train.h5
      asegen evaluate samples.xyz -r train.h5 --formula Cu4Au4 \\
          --calculator '+ase.calculators.emt.EMT()' --json eval.json
      asegen evaluate fills.xyz -r slabs.h5 --template slab.traj \\
          --formula Cu9Au3 --confinement 9.5 13.0
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    import json

    from asegen._formula import parse_formula
    from asegen.data import read_structures
    from asegen.evaluation import evaluate as evaluate_structures

    if formula is not None:
        parse_formula(formula)  # a bad formula fails before any work
    calc = _calculator(calculator) if calculator is not None else None
    images = read_structures(samples)
    known = read_structures(reference)
    pattern = read_structures(template)[0] if template is not None else None
    report = evaluate_structures(
        images,
        known,
        calculator=calc,
        relax_steps=steps,
        fmax=fmax,
        optimizer=optimizer,
        hull_threshold=hull_threshold,
        validity_factor=validity_factor,
        formula=formula,
        template=pattern,
        n_template=n_template,
        confinement=confinement,
        match_tol=match_tol,
        matcher=matcher,
        recompute_reference=recompute_reference,
        progress=True,
    )
    click.echo(report.table())
    if not no_plot:
        report.plot(plot)
        click.echo(f"wrote {plot}")
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_dict(), indent=1))
        click.echo(f"wrote {json_path}")


def _calculator(spec: str) -> Any:
    """Build the calculator of a spec string or a YAML mapping of one call."""
    import yaml

    from asegen.augment.specs import build_calculator
    from asegen.errors import ConfigError

    value: Any = spec
    if spec.lstrip().startswith("{"):
        try:
            value = yaml.safe_load(spec)
        except yaml.YAMLError as err:
            problem = str(err).splitlines()[0]
            raise ConfigError(f"--calculator: not a YAML mapping ({problem})") from None
    try:
        return build_calculator(value)
    except ConfigError as err:
        raise ConfigError(f"--calculator: {err}") from None
