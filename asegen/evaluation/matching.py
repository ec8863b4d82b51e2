"""Uniqueness and novelty: pair-distance fingerprints, or pymatgen's matcher."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from ase import Atoms

from asegen.errors import ConfigError
from asegen.evaluation.metrics import PAIR_CUTOFF, mobile_mask, pair_list

if TYPE_CHECKING:
    from asegen.graph import Pairs

__all__ = [
    "Fingerprint",
    "fingerprint",
    "fingerprint_distance",
    "match_fingerprints",
    "match_pymatgen",
]

# Fingerprint: pair distances within FP_CUTOFF (weights taper to zero by a
# cosine from FP_ONSET), linearly binned at FP_BIN and smeared by a Gaussian
# of width FP_SIGMA, per unordered element pair, divided by the atom count.
FP_CUTOFF = PAIR_CUTOFF
FP_ONSET = 5.0
FP_BIN = 0.02
FP_SIGMA = 0.1
_BINS = math.ceil(FP_CUTOFF / FP_BIN) + 2


class Fingerprint(NamedTuple):
    """Reduced composition and the flattened pair-distance profile."""

    key: tuple[tuple[int, int], ...]
    vector: np.ndarray


def fingerprint(atoms: Atoms, pairs: Pairs, held: int = 0) -> Fingerprint:
    """Composition key and profile; pairs of two fixed atoms are left out.

    ``pairs`` are :func:`~.metrics.pair_list`'s; the first ``held`` atoms and
    those in ``FixAtoms`` count as fixed.
    """
    elements, counts = np.unique(atoms.numbers, return_counts=True)
    divisor = np.gcd.reduce(counts)
    key = tuple(zip(elements.tolist(), (counts // divisor).tolist(), strict=True))
    k = len(elements)
    kind = np.searchsorted(elements, atoms.numbers)
    fixed = ~mobile_mask(atoms, held)
    keep = ~(fixed[pairs.i] & fixed[pairs.j])
    i, j, d = pairs.i[keep], pairs.j[keep], pairs.d[keep]
    a, b = np.minimum(kind[i], kind[j]), np.maximum(kind[i], kind[j])
    row = a * k - a * (a - 1) // 2 + (b - a)  # index of the unordered pair (a, b)
    taper = np.clip((d - FP_ONSET) / (FP_CUTOFF - FP_ONSET), 0.0, 1.0)
    weight = 0.5 * (1.0 + np.cos(np.pi * taper))
    x = d / FP_BIN
    low = np.floor(x).astype(np.int64)
    frac = x - low
    flat = np.zeros(k * (k + 1) // 2 * _BINS)
    np.add.at(flat, row * _BINS + low, weight * (1.0 - frac))
    np.add.at(flat, row * _BINS + low + 1, weight * frac)
    from scipy.ndimage import gaussian_filter1d

    profile = gaussian_filter1d(
        flat.reshape(-1, _BINS), FP_SIGMA / FP_BIN, axis=1, mode="constant"
    )
    return Fingerprint(key, profile.ravel() / max(len(atoms), 1))


def _relative_l1(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``(n, m)`` L1 distances divided by the mean total weight of each pair."""
    from scipy.spatial.distance import cdist

    l1 = cdist(first, second, metric="cityblock")
    scale = 0.5 * (first.sum(axis=1)[:, None] + second.sum(axis=1)[None, :])
    return np.divide(l1, scale, out=np.zeros_like(l1), where=scale > 0)


def fingerprint_distance(first: Atoms, second: Atoms) -> float:
    """Return the fingerprint distance of two structures (``inf``: other compositions).

    The fingerprint of a structure is, per unordered element pair, the profile
    of its pair distances up to 6 Å (minimum image and periodic images along
    periodic axes; weights tapered to zero between 5 and 6 Å by a cosine),
    binned at 0.02 Å, smeared by a Gaussian of σ = 0.1 Å and divided by the
    number of atoms. It does not change under permutation of atoms,
    translation (including by lattice vectors), rotation, choice of
    supercell, or mirror images. The distance is the L1 norm of the difference
    divided by the mean total weight of the two profiles (0 for identical
    profiles, at most 2). Structures with different reduced compositions are
    never compared. Pairs of two fixed atoms (``FixAtoms``, or the template
    in :func:`~asegen.evaluation.evaluate`) are left out: they are
    the same in every fill of one template and would only dilute the
    difference between the fills.

    Scale of the default ``match_tol`` = 0.05 on a relaxed 8-atom Cu–Au cell:
    two EMT relaxations from different 0.05 Å rattles 4e-4; rattled by
    σ = 0.01 Å 0.006, 0.02 Å 0.03, 0.05 Å 0.17, 0.1 Å 0.46, 0.3 Å 0.99. A
    match therefore means "the same local minimum, up to ~0.02 Å". A
    looser relaxation leaves more: 54 rattled PdO cells relaxed with the
    bundled ``pdo`` force field (atoms and cell, FIRE to 0.05 eV/Å) lie up
    to 0.3 from the relaxed reference, all within 2 meV/atom of it; raise
    ``match_tol`` to match such relaxations (0.4 separates them from every
    other Pd4O4 minimum seen, the nearest at 0.57). Pair
    distributions cannot tell homometric structures apart (rare; a
    limitation shared by every radial fingerprint).
    """
    fa, fb = (fingerprint(x, pair_list(x)) for x in (first, second))
    if fa.key != fb.key:
        return math.inf
    return float(_relative_l1(fa.vector[None], fb.vector[None])[0, 0])


def _any_match(
    first: np.ndarray, second: np.ndarray, tol: float, *, earlier: bool = False
) -> np.ndarray:
    """For each row of ``first``, whether some row of ``second`` lies within ``tol``.

    With ``earlier``, ``second`` is ``first`` and only rows before each row count.
    Rows are processed in chunks to bound memory.
    """
    found = np.zeros(len(first), dtype=bool)
    for start in range(0, len(first), 512):
        stop = min(start + 512, len(first))
        close = _relative_l1(first[start:stop], second) < tol
        if earlier:
            close &= np.arange(len(second))[None, :] < np.arange(start, stop)[:, None]
        found[start:stop] = close.any(axis=1)
    return found


def match_fingerprints(
    samples: list[Fingerprint], reference: list[Fingerprint], tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return per-sample ``unique`` and ``novel`` flags."""
    unique = np.ones(len(samples), dtype=bool)
    novel = np.ones(len(samples), dtype=bool)
    ref_groups: dict[Any, list[int]] = {}
    for index, fp in enumerate(reference):
        ref_groups.setdefault(fp.key, []).append(index)
    groups: dict[Any, list[int]] = {}
    for index, fp in enumerate(samples):
        groups.setdefault(fp.key, []).append(index)
    for key, members in groups.items():
        vectors = np.stack([samples[m].vector for m in members])
        unique[members] = ~_any_match(vectors, vectors, tol, earlier=True)
        if key in ref_groups:
            known = np.stack([reference[r].vector for r in ref_groups[key]])
            novel[members] = ~_any_match(vectors, known, tol)
    return unique, novel


def match_pymatgen(
    samples: list[Atoms], reference: list[Atoms]
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - pymatgen is optional
    """Per-sample ``unique`` and ``novel`` flags by pymatgen's StructureMatcher."""
    try:
        from pymatgen.analysis.structure_matcher import StructureMatcher
        from pymatgen.io.ase import AseAtomsAdaptor
    except ImportError:
        raise ConfigError(
            "matcher 'pymatgen' needs pymatgen; pip install pymatgen, or use the "
            "default matcher 'fingerprint'"
        ) from None
    if not all(atoms.pbc.all() for atoms in [*samples, *reference]):
        raise ConfigError(
            "matcher 'pymatgen' compares periodic crystals only; use the "
            "default matcher 'fingerprint' for slabs, clusters and molecules"
        )
    matcher = StructureMatcher()
    mine = [AseAtomsAdaptor.get_structure(a) for a in samples]
    theirs = [AseAtomsAdaptor.get_structure(a) for a in reference]
    unique = np.array(
        [not any(matcher.fit(s, t) for t in mine[:k]) for k, s in enumerate(mine)]
    )
    novel = np.array([not any(matcher.fit(s, t) for t in theirs) for s in mine])
    return unique, novel
