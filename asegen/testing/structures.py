"""Small rattled structures of every kind of cell the checks run on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.cluster import Icosahedron

__all__ = [
    "STRUCTURES",
    "make_alloy",
    "make_bulk",
    "make_cluster",
    "make_molecule",
    "make_slab",
    "make_triclinic",
]


def _rattled(atoms: Atoms, stdev: float, seed: int) -> Atoms:
    atoms.rattle(stdev=stdev, seed=seed)
    return atoms


def make_bulk(element: str = "Cu", *, rattle: float = 0.05, seed: int = 0) -> Atoms:
    """Return a rattled conventional cubic cell of ``element`` (Si: 8 atoms, fcc: 4)."""
    return _rattled(bulk(element, cubic=True), rattle, seed)


def make_triclinic(
    element: str = "Cu", *, rattle: float = 0.05, seed: int = 0
) -> Atoms:
    """Return a 2-atom triclinic cell so small that a 5 Å cutoff spans many images."""
    cell = np.array([[3.17, 0.0, 0.0], [1.03, 2.91, 0.0], [0.74, 0.86, 2.83]])
    atoms = Atoms(
        [element] * 2,
        scaled_positions=[[0.0, 0.0, 0.0], [0.45, 0.55, 0.5]],
        cell=cell,
        pbc=True,
    )
    return _rattled(atoms, rattle, seed)


def make_alloy(
    elements: tuple[str, str] = ("Cu", "Au"), *, rattle: float = 0.05, seed: int = 0
) -> Atoms:
    """Return a rattled 8-atom fcc cell, every other atom of the second element."""
    atoms = bulk(elements[0], "fcc", a=3.8, cubic=True).repeat((2, 1, 1))
    atoms.symbols[1::2] = elements[1]
    return _rattled(atoms, rattle, seed)


def make_slab(element: str = "Cu", *, rattle: float = 0.05, seed: int = 0) -> Atoms:
    """Return a rattled fcc(111) slab, 2x2x3 atoms, periodic in-plane only."""
    atoms = fcc111(element, size=(2, 2, 3), vacuum=6.0)
    atoms.pbc = (True, True, False)
    return _rattled(atoms, rattle, seed)


def make_molecule(name: str = "CH4", *, rattle: float = 0.02, seed: int = 0) -> Atoms:
    """Return a rattled molecule from ASE's database, with a zero cell and no pbc."""
    return _rattled(molecule(name), rattle, seed)


def make_cluster(element: str = "Cu", *, rattle: float = 0.05, seed: int = 0) -> Atoms:
    """Return a rattled 13-atom icosahedral cluster with a zero cell and no pbc."""
    atoms = Icosahedron(element, noshells=2)
    atoms.cell = np.zeros((3, 3))
    atoms.pbc = False
    return _rattled(atoms, rattle, seed)


#: Named structure factories covering the cases a calculator must handle.
STRUCTURES: dict[str, Callable[[], Atoms]] = {
    "bulk": make_bulk,
    "alloy": make_alloy,
    "triclinic": make_triclinic,
    "slab": make_slab,
    "molecule": make_molecule,
    "cluster": make_cluster,
}
