"""Training trajectories: the order in which a structure is built atom by atom.

:func:`prepare` computes, once per structure, everything the trajectories
need: the origin (centre of mass of the template atoms, or of the whole
structure when it has none), placement neighbours (closer than
``placement_cutoff`` and, optionally, than ``covalent_radius_factor`` times
the sum of covalent radii), SchNet pairs within the model cutoff and the
minimum-image distance matrix. Atoms fixed by ``FixAtoms`` form the template:
they are placed from the start and never predicted.

:func:`sample_trajectory` draws one trajectory (cG-SchNet's procedure):

- without a template, step 0 places the atom closest to the origin (both
  tokens on the origin, no focus);
- at every further step the focus is drawn uniformly among the placed atoms
  that are not finished; if it has unplaced placement neighbours, the one
  closest to the origin is placed next, else the step is a ``stop`` and the
  focus is finished.

Every atom is placed once and finished once: ``2 N`` steps without a
template, ``2 (N - T) + T`` with ``T`` template atoms. A structure whose
placement graph does not connect every atom to the first atom (or to the
template) cannot be built this way: :func:`prepare` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, covalent_radii

from asegen._structures import fixed_mask
from asegen.models.gschnet import GSchNetConfig
from asegen.placer.partial import minimum_image, model_pairs

__all__ = [
    "Prepared",
    "centre_of_mass",
    "placement_neighbours",
    "prepare",
    "sample_trajectory",
]


@dataclass(frozen=True)
class Prepared:
    """A structure ready for trajectories; atoms sorted (template first).

    Attributes
    ----------
    numbers, positions, cell, pbc
        The structure, template atoms first, then the others by distance
        from the origin.
    origin
        The origin token's position, Å.
    n_template
        Number of template atoms.
    neighbours
        Placement neighbours of each atom, ascending (so nearest the origin
        first among non-template atoms).
    pairs
        ``(i, j, shifts)`` of all atom pairs within the model cutoff.
    distances
        ``(N, N)`` minimum-image distances.
    origin_distances
        ``(N,)`` minimum-image distances from the origin.
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    origin: np.ndarray
    n_template: int
    neighbours: tuple[np.ndarray, ...]
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray]
    distances: np.ndarray
    origin_distances: np.ndarray

    @property
    def n_steps(self) -> int:
        """Number of steps of a full trajectory."""
        n = len(self.numbers)
        return 2 * n - self.n_template


def centre_of_mass(numbers: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Return the centre of mass of the atoms (plain, not wrapped)."""
    masses = atomic_masses[numbers]
    return masses @ positions / masses.sum()


def placement_neighbours(
    numbers: np.ndarray, distances: np.ndarray, config: GSchNetConfig
) -> np.ndarray:
    """Return the ``(N, N)`` boolean matrix of placement neighbours."""
    near = distances <= config.placement_cutoff
    if config.use_covalent_radii:
        radii = covalent_radii[numbers]
        bond = config.covalent_radius_factor * (radii[:, None] + radii[None, :])
        near &= distances <= bond
    np.fill_diagonal(near, False)
    return near


def prepare(atoms: Atoms, config: GSchNetConfig) -> Prepared | str:
    """Return ``atoms`` prepared for trajectories, or why it cannot be built."""
    numbers = atoms.numbers.astype(np.int64)
    if not len(numbers):
        return "it has no atoms"
    fixed = fixed_mask(atoms)
    if fixed.all():
        return "every atom is fixed (a template with nothing to place)"
    positions = atoms.positions.astype(np.float64)
    cell = atoms.cell.array.astype(np.float64)
    pbc = np.array(atoms.pbc, dtype=bool)
    origin = (
        centre_of_mass(numbers[fixed], positions[fixed])
        if fixed.any()
        else (centre_of_mass(numbers, positions))
    )
    to_origin, _ = minimum_image(positions - origin, cell, pbc)
    radius = np.linalg.norm(to_origin, axis=1)
    order = np.lexsort((radius, ~fixed))  # template first, then by radius
    numbers, positions, radius = numbers[order], positions[order], radius[order]
    vectors, _ = minimum_image(positions[None] - positions[:, None], cell, pbc)
    distances = np.linalg.norm(vectors, axis=2)
    near = placement_neighbours(numbers, distances, config)
    n_template = int(fixed.sum())
    if not _connected(near, n_template):
        return (
            f"its atoms are not connected by placement neighbours (placement_cutoff "
            f"{config.placement_cutoff} Å"
            + (
                f", covalent radii x {config.covalent_radius_factor}"
                if config.use_covalent_radii
                else ""
            )
            + ")"
        )
    pairs = model_pairs(positions, cell, pbc, config.model_cutoff)
    return Prepared(
        numbers=numbers,
        positions=positions,
        cell=cell,
        pbc=pbc,
        origin=origin,
        n_template=n_template,
        neighbours=tuple(np.flatnonzero(row) for row in near),
        pairs=pairs,
        distances=distances,
        origin_distances=radius,
    )


def _connected(near: np.ndarray, n_template: int) -> bool:
    """Whether every atom is reached from the template (or atom 0) by neighbours."""
    reached = np.zeros(len(near), dtype=bool)
    reached[: max(n_template, 1)] = True
    frontier = reached.copy()
    while frontier.any():
        frontier = near[frontier].any(axis=0) & ~reached
        reached |= frontier
    return bool(reached.all())


def sample_trajectory(
    prepared: Prepared, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a trajectory of ``prepared``; see the module docs.

    Returns
    -------
    order
        The atoms in the order they are placed (template first).
    steps
        ``(n_steps, 3)`` rows ``(n_placed, focus, next)``: the number of atoms
        placed before the step (the first ``n_placed`` of ``order``), the
        focus atom (``-1`` at the first step of a structure without a
        template) and the atom placed (``-1`` for stop).
    """
    n = len(prepared.numbers)
    t = prepared.n_template
    placed = np.zeros(n, dtype=bool)
    order = list(range(t)) if t else [0]
    placed[order] = True
    available = list(order)
    steps = [] if t else [(0, -1, 0)]
    while available:
        focus = available[int(rng.integers(len(available)))]
        candidates = prepared.neighbours[focus]
        free = candidates[~placed[candidates]]
        if len(free):
            new = int(free[0])
            steps.append((len(order), focus, new))
            placed[new] = True
            order.append(new)
            available.append(new)
        else:
            steps.append((len(order), focus, -1))
            available.remove(focus)
    return np.asarray(order, dtype=np.int64), np.asarray(steps, dtype=np.int64)
