"""``asegen evaluate``: score generated structures or molecules against a reference."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from asegen.errors import ConfigError, InputNotFoundError

__all__ = ["evaluate"]


@click.command()
@click.argument("samples", type=click.Path(path_type=Path))
@click.option(
    "--reference",
    "-r",
    type=click.Path(path_type=Path),
    default=None,
    help="Reference (training) structures: sets the validity threshold, decides "
    "novelty and, with energy labels, the convex hull. Required for crystals; "
    "optional with --molecules (novelty; SMILES from info['smiles'] where set).",
)
@click.option(
    "--molecules",
    is_flag=True,
    help="Evaluate molecules by RDKit bond perception instead (needs "
    'pip install "asegen[molecules]"): --reference, --json and the options marked '
    "[molecules] apply; the others are for crystals only.",
)
@click.option(
    "--charge",
    type=int,
    default=0,
    show_default=True,
    help="[molecules] Total charge of each molecule; other than 0 it needs "
    "--allow-charged-fragments (RDKit places it as formal charges).",
)
@click.option(
    "--allow-charged-fragments",
    is_flag=True,
    help="[molecules] Let RDKit place formal charges ([C-]#[O+], nitro) and count "
    "charge-separated molecules as valid.",
)
@click.option(
    "--allow-radicals",
    is_flag=True,
    help="[molecules] Count molecules with radical electrons as valid.",
)
@click.option(
    "--isomeric",
    is_flag=True,
    help="[molecules] Isomeric SMILES (stereo from 3-D) for uniqueness and novelty.",
)
@click.option(
    "--huckel",
    is_flag=True,
    help="[molecules] Connectivity from extended Hückel theory instead of "
    "connect-the-dots.",
)
@click.option(
    "--vdw",
    is_flag=True,
    help="[molecules] Connectivity from van der Waals radii instead of "
    "connect-the-dots.",
)
@click.option(
    "--cov-factor",
    type=click.FloatRange(min=0, min_open=True),
    default=1.3,
    show_default=True,
    help="[molecules] Factor on covalent radii; only with --vdw.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="[molecules] Seconds per molecule before it counts as 'timeout'; 0: "
    "none. POSIX only (SIGALRM).",
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
    reference: Path | None,
    molecules: bool,
    charge: int,
    allow_charged_fragments: bool,
    allow_radicals: bool,
    isomeric: bool,
    huckel: bool,
    vdw: bool,
    cov_factor: float,
    timeout: float,
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

    Crystals, slabs and clusters (default): prints a table of validity
    (minimum pair distance against the reference's), atoms inside the cell,
    template and confinement checks, composition match, charge neutrality,
    uniqueness and novelty, and, with --calculator, energies after
    relaxation (cell fixed, FixAtoms respected) and the fraction within
    --hull-threshold of the reference's convex hull.
    SAMPLES and --reference are any file ASE reads, asegen HDF5, or folders.

    Molecules (--molecules): RDKit perceives the bonds of each sample
    (rdDetermineBonds: connectivity, bond orders, sanitisation, radical and
    formal-charge checks) and writes canonical SMILES; prints validity,
    connectivity, uniqueness, novelty against --reference and the count of
    each status, with the RDKit version and options (numbers depend on the
    checker and its options: report them).

    \b
    Examples:
      asegen evaluate samples.xyz --reference train.h5
      asegen evaluate samples.xyz -r train.h5 --formula Cu4Au4 \\
          --calculator '+ase.calculators.emt.EMT()' --json eval.json
      asegen evaluate fills.xyz -r slabs.h5 --template slab.traj \\
          --formula Cu9Au3 --confinement 9.5 13.0
      asegen evaluate molecules.xyz --molecules -r train.db --json eval.json
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    _check_mode(molecules)
    _check_output(json_path, "--json")
    if molecules:
        from asegen.evaluation import evaluate_molecules

        scores = evaluate_molecules(
            _read(samples),
            None if reference is None else _read(reference),
            charge=charge,
            allow_charged_fragments=allow_charged_fragments,
            allow_radicals=allow_radicals,
            isomeric=isomeric,
            huckel=huckel,
            vdw=vdw,
            cov_factor=cov_factor,
            timeout=timeout,
            progress=True,
        )
        click.echo(scores.table())
        _write_json(scores, json_path)
        return
    if reference is None:
        raise ConfigError(
            "--reference is required to evaluate crystals (add -r TRAIN), or add "
            "--molecules to evaluate molecules"
        )
    from asegen._formula import parse_formula
    from asegen.evaluation import evaluate as evaluate_structures

    if formula is not None:
        parse_formula(formula)  # a bad formula fails before any work
    if not no_plot:
        _check_output(plot, "--plot")
    calc = _calculator(calculator) if calculator is not None else None
    images = _read(samples)
    known = _read(reference)
    pattern = _read(template)[0] if template is not None else None
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
    _write_json(report, json_path)


_MOLECULE_ONLY = (
    "charge", "allow_charged_fragments", "allow_radicals", "isomeric", "huckel",
    "vdw", "cov_factor", "timeout",
)  # fmt: skip
_CRYSTAL_ONLY = (
    "calculator", "formula", "template", "n_template", "confinement", "steps",
    "fmax", "optimizer", "hull_threshold", "validity_factor", "match_tol",
    "matcher", "recompute_reference", "plot", "no_plot",
)  # fmt: skip


def _check_mode(molecules: bool) -> None:
    """Refuse options of the other evaluator, naming the first one given."""
    ctx = click.get_current_context()
    others = _CRYSTAL_ONLY if molecules else _MOLECULE_ONLY
    for name in others:
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            flag = "--" + name.replace("_", "-")
            fix = "leave it out" if molecules else "add --molecules"
            what = "crystals" if molecules else "molecules"
            raise ConfigError(f"{flag} applies only to {what}: {fix}")


def _read(path: Path) -> list[Any]:
    """Read the structures of ``path`` and check each, naming a bad one and the file."""
    from asegen._structures import check_atoms
    from asegen.data import read_structures

    images = list(read_structures(path))
    for i, atoms in enumerate(images):
        check_atoms(atoms, name=f"structure {i} of {path}")
    return images


def _check_output(path: Path | None, option: str) -> None:
    """Refuse, before any work, an output file that could not be written."""
    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give the file to write")
    if not path.parent.is_dir():
        raise InputNotFoundError(
            f"the folder {path.parent} of {option} {path} does not exist; create it "
            "first"
        )
    writable = path if path.exists() else path.parent
    if not os.access(writable, os.W_OK):
        raise ConfigError(
            f"{option} {path}: permission denied (may not write {writable}); change "
            "its permissions (chmod) or choose another path"
        )
    if option == "--plot":
        from matplotlib.backend_bases import FigureCanvasBase

        kinds = FigureCanvasBase.get_supported_filetypes()
        if path.suffix.lower().lstrip(".") not in kinds:
            raise ConfigError(
                f"--plot {path}: matplotlib cannot write {path.suffix or 'a file'} "
                "images; name it .png (or .pdf, .svg)"
            )


def _write_json(report: Any, path: Path | None) -> None:
    """Write ``report.to_dict()`` to ``path`` (when given) and say so."""
    import json

    if path is not None:
        path.write_text(json.dumps(report.to_dict(), indent=1))
        click.echo(f"wrote {path}")


def _calculator(spec: str) -> Any:
    """Build the calculator of a spec string or a YAML mapping of one call."""
    import yaml

    from asegen._config import parse_yaml
    from asegen.augment.specs import build_calculator

    value: Any = spec
    if spec.lstrip().startswith("{"):
        try:
            value = parse_yaml(spec)
        except yaml.YAMLError as err:
            problem = str(err).splitlines()[0]
            raise ConfigError(f"--calculator: not a YAML mapping ({problem})") from None
    try:
        return build_calculator(value)
    except ConfigError as err:
        raise ConfigError(f"--calculator: {err}") from None
