"""Validity, uniqueness and novelty of generated molecules (RDKit bond perception).

:func:`evaluate_molecules` runs :func:`~asegen.evaluation.perception.perceive`
on every sample (and on reference structures without ``info['smiles']``) and
returns a :class:`MoleculeReport`. RDKit is an optional dependency
(``pip install "asegen[molecules]"``).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ase import Atoms

from asegen._structures import check_atoms
from asegen.errors import DataFormatError, StructureError
from asegen.evaluation.perception import (
    STATUSES,
    MoleculeOptions,
    Perception,
    canonical_smiles,
    perceive,
    rdkit_version,
)
from asegen.evaluation.report import Metric, metric_summary, metric_table

__all__ = ["MoleculeReport", "evaluate_molecules"]


@dataclass
class MoleculeReport:
    """Per-molecule results and summary metrics of :func:`evaluate_molecules`.

    Attributes
    ----------
    status
        One of :data:`~asegen.evaluation.perception.STATUSES` per sample.
    smiles
        Canonical SMILES per sample (``None`` where perception failed).
    connected
        Connect-the-dots joined all atoms of the sample into one fragment.
    reference_smiles
        The distinct canonical SMILES of the reference set (``None``: no
        reference given, so no novelty).
    settings
        The RDKit version and every option of the pipeline.
    """

    status: list[str]
    smiles: list[str | None]
    connected: list[bool]
    reference_smiles: frozenset[str] | None
    settings: dict[str, Any]

    @property
    def n_samples(self) -> int:
        """The number of samples evaluated."""
        return len(self.status)

    @property
    def novel(self) -> list[bool | None]:
        """Per sample, valid and absent from the reference; ``None`` if not valid.

        All ``None`` without a reference.
        """
        known = self.reference_smiles
        return [
            None if known is None or st != "valid" else s not in known
            for s, st in zip(self.smiles, self.status, strict=True)
        ]

    @property
    def unique_valid(self) -> list[str]:
        """The distinct SMILES of valid samples, in order of first appearance."""
        pairs = zip(self.smiles, self.status, strict=True)
        return list(dict.fromkeys(s for s, st in pairs if st == "valid"))

    def metrics(self) -> list[Metric]:
        """Return the summary rows of :meth:`table` and :meth:`to_dict`."""
        n = self.n_samples
        n_valid = self.status.count("valid")
        unique = self.unique_valid
        n_connected = sum(self.connected)
        rows = [
            Metric("samples", "samples", None, n),
            Metric("valid", "valid", _ratio(n_valid, n), n_valid, n),
            Metric("connected", "connected (one fragment)",
                   _ratio(n_connected, n), n_connected, n),
            Metric("unique", "unique (of valid)",
                   _ratio(len(unique), n_valid), len(unique), n_valid),
            Metric("valid_unique", "valid and unique",
                   _ratio(len(unique), n), len(unique), n),
        ]  # fmt: skip
        if self.reference_smiles is not None:
            novel = sum(s not in self.reference_smiles for s in unique)
            rows += [
                Metric("reference", "reference molecules (distinct)", None,
                       len(self.reference_smiles)),
                Metric("novel", "novel (of valid and unique)",
                       _ratio(novel, len(unique)), novel, len(unique)),
            ]  # fmt: skip
        counts = Counter(self.status)
        rows += [
            Metric(f"status_{x}", f"status: {x}", None, counts[x]) for x in STATUSES
        ]
        return rows

    def table(self) -> str:
        """Return the summary as a plain-text table: metric, value, count."""
        checker = f"RDKit {self.settings['rdkit']}"
        return f"{metric_table(self.metrics())}\n{checker}, {_options(self.settings)}"

    def to_dict(self) -> dict[str, Any]:
        """Return settings, summary and per-molecule values as JSON-ready data."""
        return {
            "settings": self.settings,
            "summary": metric_summary(self.metrics()),
            "samples": {
                "status": self.status,
                "smiles": self.smiles,
                "connected": self.connected,
                "novel": self.novel,
            },
        }


def _ratio(count: int, total: int) -> float | None:
    return count / total if total else None


def _options(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items() if k != "rdkit")


def evaluate_molecules(
    samples: Iterable[Atoms],
    reference: Iterable[Atoms] | None = None,
    *,
    charge: int = 0,
    allow_charged_fragments: bool = False,
    allow_radicals: bool = False,
    isomeric: bool = False,
    huckel: bool = False,
    vdw: bool = False,
    cov_factor: float = 1.3,
    timeout: float | None = 5.0,
    progress: bool = False,
) -> MoleculeReport:
    """Evaluate generated molecules by RDKit bond perception.

    Each sample goes through RDKit's ``rdDetermineBonds`` (the xyz2mol
    port) and gets a status: ``valid``, ``empty`` (no atoms),
    ``parse_failed``, ``bond_order_failed``, ``sanitize_failed``, ``radical``,
    ``charged`` (formal charges), ``disconnected`` (a
    ``.`` in the SMILES) or ``timeout``. Validity is valid / samples,
    uniqueness distinct valid SMILES / valid, novelty distinct valid SMILES
    absent from the reference / distinct valid SMILES.

    Parameters
    ----------
    samples
        Non-periodic structures.
    reference
        Training molecules for novelty: SMILES from ``atoms.info['smiles']``
        where present, else perceived with the same pipeline.
    charge
        Total charge of each molecule; RDKit places it as formal charges, so a
        non-zero charge needs ``allow_charged_fragments``.
    allow_charged_fragments
        Let RDKit place formal charges and accept charge-separated molecules.
    allow_radicals
        Accept molecules with radical electrons.
    isomeric
        Compare isomeric SMILES (stereo from 3-D) instead of non-isomeric.
    huckel, vdw
        Connectivity from extended Hückel theory or van der Waals radii
        instead of RDKit's default connect-the-dots.
    cov_factor
        Factor on covalent radii, with ``vdw`` only.
    timeout
        Seconds per molecule (SIGALRM: main thread on POSIX only; elsewhere,
        or with ``None`` or 0, no limit).
    progress
        Show a progress bar on stderr (when on a terminal).

    Returns
    -------
    MoleculeReport
        Per-molecule statuses and SMILES, the summary, and the settings.

    Raises
    ------
    asegen.errors.ConfigError
        Without RDKit (naming ``pip install "asegen[molecules]"``), or for
        inconsistent options.
    asegen.errors.StructureError
        For a periodic structure or one with a non-finite position.
    asegen.errors.DataFormatError
        For a reference ``info['smiles']`` RDKit cannot read.
    """
    options = MoleculeOptions(
        charge=charge,
        allow_charged_fragments=allow_charged_fragments,
        allow_radicals=allow_radicals,
        isomeric=isomeric,
        huckel=huckel,
        vdw=vdw,
        cov_factor=cov_factor,
        timeout=timeout,
    )
    settings = {"rdkit": rdkit_version(), **options.as_dict()}
    images = list(samples)
    for i, atoms in enumerate(images):
        _check_molecule(atoms, f"sample {i}")
    results = _perceive_all(images, options, "samples", progress)
    known = None
    if reference is not None:
        known = frozenset(_reference_smiles(reference, options, progress))
    return MoleculeReport(
        status=[r.status for r in results],
        smiles=[r.smiles for r in results],
        connected=[r.connected for r in results],
        reference_smiles=known,
        settings=settings,
    )


def _perceive_all(
    images: list[Atoms], options: MoleculeOptions, what: str, progress: bool
) -> list[Perception]:
    from tqdm import tqdm

    bar = tqdm(
        images,
        unit=" molecules",
        desc=f"perceiving {what}",
        file=sys.stderr,
        disable=None if progress else True,  # None: off when not a terminal
    )
    with bar:
        return [perceive(atoms, options) for atoms in bar]


def _check_molecule(atoms: Atoms, name: str) -> None:
    """Refuse a periodic structure or one with a non-finite position."""
    if atoms.pbc.any():
        raise StructureError(
            f"{name} is periodic (pbc={atoms.pbc.tolist()}); the molecule evaluator "
            "takes molecules only: set pbc=False, or evaluate crystals without "
            "--molecules"
        )
    check_atoms(atoms, name=name)


def _reference_smiles(
    reference: Iterable[Atoms], options: MoleculeOptions, progress: bool
) -> Iterable[str]:
    images = list(reference)
    given = [atoms.info.get("smiles") for atoms in images]
    for i, text in enumerate(given):
        if text is None:
            continue
        smiles = canonical_smiles(str(text), isomeric=options.isomeric)
        if smiles is None:
            raise DataFormatError(
                f"reference structure {i}: info['smiles'] {text!r} is not a SMILES "
                "RDKit reads; correct it or remove the key to perceive the bonds"
            )
        yield smiles
    rest = [atoms for atoms, text in zip(images, given, strict=True) if text is None]
    for i, atoms in enumerate(images):
        if given[i] is None:
            _check_molecule(atoms, f"reference structure {i}")
    for result in _perceive_all(rest, options, "reference", progress):
        if result.status == "valid" and result.smiles is not None:
            yield result.smiles
