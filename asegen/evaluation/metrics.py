"""Per-structure checks: distances, validity, placement, composition, neutrality.

Pair distances are listed once per structure (:func:`pair_list`, which is
:func:`asegen.graph.pair_list` at :data:`PAIR_CUTOFF`) and shared by
:func:`min_distance` and the fingerprints of :mod:`.matching`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from ase.formula import Formula

from asegen._formula import formula_counts
from asegen._structures import fixed_mask

if TYPE_CHECKING:
    from asegen.graph import Pairs

__all__ = [
    "OXIDATION_STATES",
    "PAIR_CUTOFF",
    "charge_neutral",
    "element_counts",
    "in_cell",
    "min_distance",
    "min_pair_distance",
    "mobile_mask",
    "pair_list",
    "same_template",
    "window_flags",
]

#: Common oxidation states and Pauling electronegativity of the elements
#: :func:`charge_neutral` knows (a small table in the spirit of pymatgen's
#: ``common_oxidation_states``, with the usual second states of Cu, Au, Ti, Ni).
OXIDATION_STATES: dict[str, tuple[tuple[int, ...], float]] = {
    "H": ((-1, 1), 2.20), "Li": ((1,), 0.98), "B": ((3,), 2.04),
    "C": ((-4, 2, 4), 2.55), "N": ((-3, 3, 5), 3.04), "O": ((-2,), 3.44),
    "F": ((-1,), 3.98), "Na": ((1,), 0.93), "Mg": ((2,), 1.31),
    "Al": ((3,), 1.61), "Si": ((-4, 4), 1.90), "P": ((-3, 3, 5), 2.19),
    "S": ((-2, 2, 4, 6), 2.58), "Cl": ((-1, 1, 3, 5, 7), 3.16),
    "K": ((1,), 0.82), "Ca": ((2,), 1.00), "Ti": ((2, 3, 4), 1.54),
    "V": ((2, 3, 4, 5), 1.63), "Cr": ((2, 3, 6), 1.66),
    "Mn": ((2, 3, 4, 7), 1.55), "Fe": ((2, 3), 1.83), "Co": ((2, 3), 1.88),
    "Ni": ((2, 3), 1.91), "Cu": ((1, 2), 1.90), "Zn": ((2,), 1.65),
    "Ga": ((3,), 1.81), "Ge": ((-4, 2, 4), 2.01), "As": ((-3, 3, 5), 2.18),
    "Se": ((-2, 4, 6), 2.55), "Br": ((-1, 1, 3, 5), 2.96), "Sr": ((2,), 0.95),
    "Zr": ((4,), 1.33), "Mo": ((4, 6), 2.16), "Pd": ((2, 4), 2.20),
    "Ag": ((1,), 1.93), "Sn": ((2, 4), 1.96), "I": ((-1, 1, 3, 5, 7), 2.66),
    "Ba": ((2,), 0.89), "La": ((3,), 1.10), "W": ((4, 6), 2.36),
    "Pt": ((2, 4), 2.28), "Au": ((1, 3), 2.54), "Pb": ((2, 4), 2.33),
}  # fmt: skip

#: Pairs are listed up to this distance (Å); the fingerprint cutoff as well.
PAIR_CUTOFF = 6.0


def pair_list(atoms: Atoms, cutoff: float = PAIR_CUTOFF) -> Pairs:
    """Return :func:`asegen.graph.pair_list`, by default at :data:`PAIR_CUTOFF`.

    ``asegen.graph`` (and torch) load on the first call, so importing the
    evaluation (molecules need no distances) stays light.
    """
    from asegen.graph import pair_list as graph_pair_list

    return graph_pair_list(atoms, cutoff)


def min_distance(atoms: Atoms) -> float:
    """Return the smallest interatomic distance of ``atoms`` in Å.

    Along periodic axes the minimum image counts, an atom's own periodic
    images included; molecules and clusters without cell use plain
    distances. Fewer than two atoms and no periodic axis give ``inf``.
    """
    return min_pair_distance(atoms, pair_list(atoms))


def min_pair_distance(atoms: Atoms, pairs: Pairs) -> float:
    """Return :func:`min_distance` from the pairs :func:`pair_list` gave."""
    cutoff = PAIR_CUTOFF
    while not len(pairs.d):  # nothing within the cutoff: search further
        if (len(atoms) < 2 and not atoms.pbc.any()) or cutoff > 1e4:
            return math.inf
        cutoff *= 4.0
        pairs = pair_list(atoms, cutoff)
    return float(pairs.d.min())


def in_cell(atoms: Atoms) -> bool:
    """Whether every atom lies inside the cell along the periodic axes."""
    pbc = atoms.pbc
    if not pbc.any() or not len(atoms):
        return True
    scaled = atoms.cell.scaled_positions(atoms.positions)[:, pbc]
    return bool(((scaled >= -1e-8) & (scaled < 1.0 + 1e-8)).all())


def same_template(atoms: Atoms, template: Atoms) -> bool:
    """Whether ``atoms`` starts with the template's numbers and positions (1e-6 Å)."""
    n = len(template)
    return bool(
        len(atoms) >= n
        and np.array_equal(atoms.numbers[:n], template.numbers)
        and np.allclose(atoms.positions[:n], template.positions, rtol=0.0, atol=1e-6)
    )


def mobile_mask(atoms: Atoms, held: int) -> np.ndarray:
    """Atoms neither among the first ``held`` nor in ``FixAtoms``."""
    mobile = np.ones(len(atoms), dtype=bool)
    mobile[:held] = False
    return mobile & ~fixed_mask(atoms)


def window_flags(
    samples: list[Atoms], confinement: tuple[float, float] | None, held: int
) -> np.ndarray | None:
    """Whether every mobile atom's z lies in the window; ``None`` without windows."""
    windows = [confinement or atoms.info.get("confinement") for atoms in samples]
    if all(window is None for window in windows):
        return None
    flags = np.ones(len(samples), dtype=bool)
    for k, (atoms, window) in enumerate(zip(samples, windows, strict=True)):
        if window is not None:
            lo, hi = (float(x) for x in window)
            z = atoms.positions[mobile_mask(atoms, held), 2]
            flags[k] = bool(((z >= lo - 1e-6) & (z <= hi + 1e-6)).all())
    return flags


def element_counts(atoms: Atoms) -> dict[str, int]:
    """Return the element counts of ``atoms``."""
    return Formula.from_list(atoms.get_chemical_symbols()).count()


@lru_cache(maxsize=1024)
def _neutral(counts: tuple[tuple[str, int], ...]) -> bool | None:
    if len(counts) < 2 or any(s not in OXIDATION_STATES for s, _ in counts):
        return None
    anion = max(
        counts,
        key=lambda sc: (OXIDATION_STATES[sc[0]][1], -min(OXIDATION_STATES[sc[0]][0])),
    )[0]
    if min(OXIDATION_STATES[anion][0]) >= 0:
        return None  # metals only, or no element that takes a negative state
    bound = 7 * sum(count for _, count in counts)
    reachable = np.zeros(2 * bound + 1, dtype=bool)
    reachable[bound] = True  # total charge 0 before any atom is assigned
    for symbol, count in counts:
        states = OXIDATION_STATES[symbol][0]
        if symbol == anion:
            states = tuple(s for s in states if s < 0)
        for _ in range(count):
            step = np.zeros_like(reachable)
            for state in states:
                step |= np.roll(reachable, state)  # never wraps: |sum| <= bound
            reachable = step
    return bool(reachable[bound])


def charge_neutral(composition: Atoms | str) -> bool | None:
    """Return whether a composition can be neutral (``None``: not applicable).

    The most electronegative element (Pauling scale, ties broken towards an
    element with a negative state) takes only its negative common states;
    every other atom takes any common state of its element, atom by atom (so
    mixed valence such as Fe3O4 counts). The composition is neutral if some
    assignment sums to zero, found exactly by a small integer search.

    Parameters
    ----------
    composition
        A structure or a formula.

    Returns
    -------
    bool or None
        ``None`` (not applicable) for one element only, an element outside
        :data:`OXIDATION_STATES`, or no element with a negative state (metals
        only: Cu3Au).
    """
    counts = (
        element_counts(composition)
        if isinstance(composition, Atoms)
        else formula_counts(composition)
    )
    return _neutral(tuple(sorted(counts.items())))
