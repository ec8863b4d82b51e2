"""``evaluate``: score generated structures against a reference set.

Ties the pieces together: the checks of :mod:`.metrics`, relaxation
(:mod:`.relax`), matching (:mod:`.matching`) and the hull (:mod:`.hull`),
gathered into an :class:`~.report.EvaluationReport`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from ase import Atoms

from asegen._formula import formula_counts
from asegen._structures import check_atoms
from asegen.errors import ConfigError, DataFormatError
from asegen.evaluation.hull import LowerHull, atomic_fractions
from asegen.evaluation.matching import (
    fingerprint,
    match_fingerprints,
    match_pymatgen,
)
from asegen.evaluation.metrics import (
    charge_neutral,
    element_counts,
    in_cell,
    min_pair_distance,
    pair_list,
    same_template,
    window_flags,
)
from asegen.evaluation.relax import (
    energy_per_atom,
    labelled_energy,
    relax_all,
)
from asegen.evaluation.report import EvaluationReport

__all__ = ["evaluate"]


def evaluate(
    samples: Iterable[Atoms],
    reference: Iterable[Atoms],
    *,
    calculator: Any = None,
    relax_steps: int = 100,
    fmax: float = 0.05,
    optimizer: str = "FIRE",
    hull_threshold: float = 0.1,
    energy_margin: float = 0.02,
    validity_factor: float = 0.7,
    formula: str | None = None,
    template: Atoms | None = None,
    n_template: int | None = None,
    confinement: tuple[float, float] | None = None,
    match_tol: float = 0.05,
    matcher: str = "fingerprint",
    recompute_reference: bool = False,
    progress: bool = False,
) -> EvaluationReport:
    """Evaluate generated structures against a reference (training) set.

    Parameters
    ----------
    samples
        The generated structures (not modified).
    reference
        The reference set, usually the training data: its minimum pair
        distance sets the validity threshold, its structures decide novelty,
        and its energies per atom build the convex hull.
    calculator
        Any ASE calculator. Each sample is relaxed with it (cell fixed,
        ``FixAtoms`` and the template atoms held) before energies, uniqueness
        and novelty are computed.
    relax_steps, fmax, optimizer
        At most ``relax_steps`` steps of ``"FIRE"`` or ``"BFGS"`` until the
        largest force is below ``fmax`` eV/Å.
    hull_threshold
        eV/atom above the reference hull that still counts as stable.
    energy_margin
        eV/atom above the reference maximum that still counts as "within the
        reference range".
    validity_factor
        Valid: minimum pair distance above this factor times the reference's.
    formula
        Requested composition of the generated (non-template) atoms.
    template
        The template the samples were built on: its atoms must come first in
        every sample, with the same numbers and positions (1e-6 Å).
    n_template
        Leading template atoms, left out of the composition match and held in
        relaxation (default ``len(template)``, or 0).
    confinement
        ``(z_lo, z_hi)`` in Å that the mobile atoms (after the template or,
        without one, not in ``FixAtoms``) must lie in; by default each
        sample's ``info["confinement"]`` where present.
    match_tol
        Fingerprint distance below which two structures match
        (:func:`~.matching.fingerprint_distance`).
    matcher
        ``"fingerprint"``, or ``"pymatgen"`` for pymatgen's
        ``StructureMatcher`` with its default tolerances (pymatgen installed,
        periodic structures only).
    recompute_reference
        Compute reference energies with ``calculator`` even where labelled;
        by default labels are used and only missing ones are computed.
    progress
        Show a progress bar on stderr while relaxing (when on a terminal).

    Returns
    -------
    EvaluationReport

    Raises
    ------
    ConfigError
        For a bad formula, number, matcher, optimizer or confinement window,
        or an ``n_template`` above a sample's atom count.
    DataFormatError
        If there are no samples or no reference structures.
    StructureError
        For a sample, reference structure or template with a non-finite
        position or cell, or a zero-volume periodic cell (naming which).
    """
    samples, reference = list(samples), list(reference)
    if not samples or not reference:
        what = "samples" if not samples else "reference structures"
        raise DataFormatError(f"no {what} to evaluate; pass at least one structure")
    for what, images in (("sample", samples), ("reference structure", reference)):
        for i, atoms in enumerate(images):
            check_atoms(atoms, name=f"{what} {i}")
    if template is not None:
        check_atoms(template, name="the template")
    _check_confinement(confinement)
    numbers = {"relax_steps": relax_steps, "fmax": fmax, "match_tol": match_tol,
               "hull_threshold": hull_threshold, "energy_margin": energy_margin,
               "validity_factor": validity_factor}  # fmt: skip
    for name, value in numbers.items():
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be a non-negative number, got {value!r}")
    for name, value, choices in (
        ("optimizer", optimizer, ("FIRE", "BFGS")),
        ("matcher", matcher, ("fingerprint", "pymatgen")),
    ):
        if value not in choices:
            raise ConfigError(f"{name} must be one of {choices}, not {value!r}")
    requested = formula_counts(formula) if formula is not None else None
    prefix = n_template if n_template is not None else len(template or [])
    smallest = min(range(len(samples)), key=lambda i: len(samples[i]))
    if n_template is not None and n_template > len(samples[smallest]):
        raise ConfigError(
            f"n_template ({n_template}) exceeds the {len(samples[smallest])} atoms "
            f"of sample {smallest}; give the template's atom count"
        )

    sample_pairs = [pair_list(atoms) for atoms in samples]
    ref_pairs = [pair_list(atoms) for atoms in reference]
    ref_dmin = min(map(min_pair_distance, reference, ref_pairs))
    dmin = np.array(list(map(min_pair_distance, samples, sample_pairs)))
    report = EvaluationReport(
        settings={
            **numbers,
            "optimizer": optimizer,
            "matcher": matcher,
            "formula": formula,
            "n_template": prefix,
            "confinement": None if confinement is None else list(confinement),
            "calculator": None if calculator is None else type(calculator).__name__,
        },
        n_reference=len(reference),
        reference_min_distance=ref_dmin,
        threshold=validity_factor * ref_dmin,
        min_distance=dmin,
        valid=dmin > validity_factor * ref_dmin,
        in_cell=np.array([in_cell(atoms) for atoms in samples]),
        unique=np.ones(len(samples), dtype=bool),
        novel=np.ones(len(samples), dtype=bool),
        neutral=[charge_neutral(atoms) for atoms in samples],
    )
    if requested is not None:
        report.composition_match = np.array(
            [element_counts(atoms[prefix:]) == requested for atoms in samples]
        )
    if template is not None:
        report.template_unchanged = np.array(
            [same_template(atoms, template) for atoms in samples]
        )
    report.in_window = window_flags(samples, confinement, prefix)

    if calculator is not None:
        (
            report.relaxed,
            report.energy_initial,
            report.energy_relaxed,
            report.rms_displacement,
            report.converged,
        ) = relax_all(samples, calculator, prefix, report.settings, progress)
        energies = [math.nan if recompute_reference else labelled_energy(a)
                    for a in reference]  # fmt: skip
        report.reference_energy = np.array(
            [e if math.isfinite(e) else energy_per_atom(a, calculator)
             for e, a in zip(energies, reference, strict=True)]
        )  # fmt: skip
    else:
        energies = np.array([labelled_energy(atoms) for atoms in reference])
        report.reference_energy = energies if np.isfinite(energies).any() else None
    matched = report.relaxed or samples
    if matcher == "pymatgen":
        report.unique, report.novel = match_pymatgen(matched, reference)
    else:
        pairs = sample_pairs if calculator is None else list(map(pair_list, matched))
        report.unique, report.novel = match_fingerprints(
            [fingerprint(a, p, prefix) for a, p in zip(matched, pairs, strict=True)],
            list(map(fingerprint, reference, ref_pairs)),
            match_tol,
        )
    if report.energy_relaxed is not None and report.reference_energy is not None:
        elements = sorted({int(z) for atoms in reference for z in atoms.numbers})
        hull = LowerHull(
            np.array([atomic_fractions(atoms, elements) for atoms in reference]),
            report.reference_energy,
        )
        fractions = np.array([atomic_fractions(atoms, elements) for atoms in matched])
        report.e_above_hull = report.energy_relaxed - hull(fractions)
    return report


def _check_confinement(confinement: tuple[float, float] | None) -> None:
    """Refuse a window that is not two finite numbers, lower first."""
    if confinement is None:
        return
    lo, hi = (float(x) for x in confinement)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(
            f"confinement must be two finite z values LO < HI (Å), got {lo:g} {hi:g}"
        )
