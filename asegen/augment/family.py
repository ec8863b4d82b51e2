"""One family tree: its members and the messages its growth exchanges.

A family is a starting structure and every member grown from it. Its
:class:`Family` keeps the members with the arrays that parent choice and the
similarity test run on; :class:`Request` and :class:`Produced` are what a
family's growth (:mod:`asegen.augment.growth`) yields to a driver, and
:class:`FamilyTask` is the work for one starting structure. :func:`pool_size`
fixes which members a child of a wave picks its parent from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from asegen.augment.operations import (
    any_within,
    complete,
    fractional,
    parent_probabilities,
)

__all__ = [
    "START_KEY",
    "Family",
    "FamilyTask",
    "Produced",
    "Request",
    "pool_size",
]

START_KEY = "starting-structure"


@dataclass
class Request:
    """A structure to label; ``fresh`` unless it follows its slot's previous request.

    A driver labelling one structure at a time forgets the calculator's
    previous geometry for a fresh request, so labels never depend on what
    another slot had evaluated before.
    """

    atoms: Atoms
    fresh: bool


@dataclass
class Produced:
    """A new member of family ``start`` in ``slot``, with the counts it cost.

    ``counts`` holds the slot's ``calls`` and rejections by reason
    (``similar``, ``force``, ``separation``).
    """

    start: int
    slot: int
    atoms: Atoms
    counts: Counter


@dataclass
class FamilyTask:
    """Work for one starting structure: its seed, existing members, target size."""

    start: int
    seed: Atoms
    existing: list[Atoms] = field(default_factory=list)
    size: int = 1


class Family:
    """Members of one family with the arrays the tests run on (grown by doubling).

    Parameters
    ----------
    n_atoms
        Atoms per member (every member has the seed's atoms, in order).
    pbc
        (3,) periodic axes, shared by every member.
    """

    def __init__(self, n_atoms: int, pbc: np.ndarray) -> None:
        self.pbc = np.array(pbc, dtype=bool)
        self._periodic = tuple(axis for axis in range(3) if self.pbc[axis])
        self.members: list[Atoms] = []
        self._energy = np.empty(8)  # per atom
        self._levels = np.empty(8)
        self._fractional = np.empty((8, n_atoms, 3))
        self._full: list[np.ndarray] = []  # completed cells

    def __len__(self) -> int:
        return len(self.members)

    def add(
        self,
        atoms: Atoms,
        *,
        energy: float | None = None,
        lattice: np.ndarray | None = None,
        full: np.ndarray | None = None,
    ) -> None:
        """Append a labelled member (``info["level"]`` set).

        ``energy`` (its total energy), ``lattice`` (its
        :func:`~asegen.augment.operations.fractional` coordinates) and ``full``
        (its :func:`~asegen.augment.operations.complete` cell), when the
        caller has them, save asking the calculator and computing them again.
        """
        k = len(self.members)
        if k == len(self._energy):
            self._energy = np.resize(self._energy, 2 * k)
            self._levels = np.resize(self._levels, 2 * k)
            grown = np.empty((2 * k, *self._fractional.shape[1:]))
            grown[:k] = self._fractional
            self._fractional = grown
        if energy is None:
            energy = atoms.get_potential_energy()
        if full is None:
            full = complete(atoms.cell.array)
        if lattice is None:
            lattice = fractional(atoms.positions, full, full=full)
        self._energy[k] = energy / len(atoms)
        self._levels[k] = atoms.info["level"]
        self._fractional[k] = lattice
        self._full.append(full)
        self.members.append(atoms)

    def energy_per_atom(self, index: int) -> float:
        """Per-atom energy of member ``index``."""
        return float(self._energy[index])

    def lattice(self, index: int) -> np.ndarray:
        """(N, 3) lattice coordinates of member ``index`` in its own cell."""
        return self._fractional[index]

    def full_cell(self, index: int) -> np.ndarray:
        """Return the completed cell of member ``index`` (not to be modified)."""
        return self._full[index]

    def probabilities(self, *, kT: float, beta: float, end: int) -> np.ndarray:
        """Parent-selection probabilities of the first ``end`` members."""
        return parent_probabilities(
            self._energy[:end], self._levels[:end], kT=kT, beta=beta
        )

    def similar(
        self,
        positions: np.ndarray,
        cell: np.ndarray,
        threshold: float,
        members: slice,
        *,
        full: np.ndarray | None = None,
        lattice: np.ndarray | None = None,
    ) -> bool:
        """Whether a candidate is within ``threshold`` of any of ``members``.

        ``full`` (the completed ``cell``) and ``lattice`` (the candidate's
        lattice coordinates) are used when given.
        """
        chosen = self._fractional[: len(self.members)][members]
        if len(chosen) == 0:
            return False
        if full is None:
            full = complete(cell)
        if lattice is None:
            lattice = fractional(positions, cell, full=full)
        return any_within(lattice, full, self._periodic, chosen, threshold)


def pool_size(slot: int, width: int) -> int:
    """Members the child in ``slot`` picks its parent from: all before its wave.

    Waves of ``width`` slots are fixed by slot number (1…width,
    width+1…2·width, …), whatever the family held when a run started, so a
    resumed run redoes the unfinished part of a wave from the same pool.
    Slot 0, the seed, has none.
    """
    return 0 if slot == 0 else 1 + width * ((slot - 1) // width)
