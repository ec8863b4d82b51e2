"""Evaluate generated structures against a reference set, for every generator.

:func:`evaluate` scores a list of samples against the structures a generator
was trained on and returns an :class:`EvaluationReport` (per-sample arrays,
a plain-text :meth:`~EvaluationReport.table`, a PNG :meth:`~EvaluationReport.plot`).
The metrics and the methods behind them:

Validity
    A sample is valid when its minimum pair distance (minimum image along
    periodic axes, periodic images of an atom included; plain distances for
    molecules and clusters) exceeds ``validity_factor`` times the smallest
    such distance over the reference set. Reported alongside: atoms inside the
    cell (fractional coordinates in [0, 1) along periodic axes), template atoms
    unchanged, mobile atoms inside a confinement window.
Charge neutrality
    :func:`charge_neutral` with the small table :data:`OXIDATION_STATES`.
Uniqueness and novelty
    Two structures match when they have the same reduced composition and
    their pair-distance fingerprints differ by less than ``match_tol``
    (:func:`fingerprint_distance`). A sample is unique if it matches no earlier
    sample and novel if it matches no reference structure. With a calculator,
    the relaxed samples are compared (as the spec asks).
Energies
    With an ASE calculator, each sample is relaxed (cell fixed, ``FixAtoms``
    respected) and its energy per atom compared with the reference set's: the
    fraction at most ``energy_margin`` above the reference maximum, and the
    fraction within ``hull_threshold`` of the reference set's lower convex
    hull (:class:`LowerHull`).

The modules: :mod:`.metrics` (distances, validity, placement, composition,
charge neutrality), :mod:`.matching` (fingerprints, uniqueness and novelty),
:mod:`.relax` (energies and relaxation), :mod:`.hull` (:class:`LowerHull`),
:mod:`.report` (:class:`EvaluationReport`) and :mod:`.pipeline`
(:func:`evaluate`, which ties them together).

Molecules
    :func:`evaluate_molecules` perceives bonds with RDKit (optional:
    ``pip install "asegen[molecules]"``) and reports validity, connectivity,
    uniqueness and novelty of canonical SMILES in a :class:`MoleculeReport`;
    :mod:`.perception` holds the per-molecule pipeline, :mod:`.molecules`
    the metrics.
"""

from asegen._formula import formula_counts
from asegen.evaluation.hull import LowerHull
from asegen.evaluation.matching import fingerprint_distance
from asegen.evaluation.metrics import (
    OXIDATION_STATES,
    charge_neutral,
    min_distance,
)
from asegen.evaluation.molecules import MoleculeReport, evaluate_molecules
from asegen.evaluation.pipeline import evaluate
from asegen.evaluation.report import EvaluationReport, Metric

__all__ = [
    "OXIDATION_STATES",
    "EvaluationReport",
    "LowerHull",
    "Metric",
    "MoleculeReport",
    "charge_neutral",
    "evaluate",
    "evaluate_molecules",
    "fingerprint_distance",
    "formula_counts",
    "min_distance",
]
