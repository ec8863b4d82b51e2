"""Pure, vectorised operations of the rattle–relax–repeat loop.

Every function takes and returns NumPy arrays (cells as rows, like ASE) and
holds no state, so each can be tested on its own. Random numbers come in as
arguments: the caller owns the random streams and their draw order.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.cell import Cell
from ase.neighborlist import neighbor_list

__all__ = [
    "DECIMALS",
    "cartesian",
    "choose_index",
    "early_stop_probability",
    "fractional",
    "log_uniform",
    "max_force",
    "parent_probabilities",
    "quantize",
    "rattle",
    "relax_step",
    "similar_to_any",
    "strain_cell",
    "too_close",
]

DECIMALS = 8
"""Positions are rounded to 1e-8 Å before every evaluation (extxyz's precision).

So every output format holds exactly the geometry that was labelled, and a
family read back from any output continues exactly as it would have in memory.
"""

_MIN_FORCE_NORM = 1e-6  # eV/Å: below it an atom's step direction is ill-defined
_CHUNK_ATOMS = 1 << 14  # atoms compared per vectorised pass (fits in cache)


def quantize(positions: np.ndarray) -> np.ndarray:
    """Round Cartesian positions (Å) to :data:`DECIMALS` decimals."""
    return np.round(positions, DECIMALS)


def parent_probabilities(
    energy_per_atom: np.ndarray, levels: np.ndarray, *, kT: float, beta: float
) -> np.ndarray:
    """Parent-selection probabilities of the family members.

    ``P = (1 − β)·w_E + β·w_G`` with Boltzmann weights ``w_E ∝ exp(−e/kT)`` of
    the per-atom energies ``e`` (computed by log-sum-exp, shifted by the
    minimum: finite for every ``kT > 0``) and generation weights
    ``w_G ∝ level + 1``.

    Parameters
    ----------
    energy_per_atom
        (K,) per-atom energies of the members.
    levels
        (K,) generations (the seed has level 0).
    kT
        Boltzmann constant times temperature, in the energy unit.
    beta
        Weight of the generation term, in [0, 1].
    """
    exponent = -(energy_per_atom - energy_per_atom.min()) / kT  # (K,), max 0
    boltzmann = np.exp(exponent)
    boltzmann /= boltzmann.sum()
    generation = levels + 1.0
    generation /= generation.sum()
    return (1.0 - beta) * boltzmann + beta * generation


def choose_index(probabilities: np.ndarray, uniform: float) -> int:
    """Index drawn from ``probabilities`` by inverting their CDF at ``uniform``."""
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    return int(np.searchsorted(cdf, uniform, side="right"))


def log_uniform(uniform: float, low: float, high: float) -> float:
    """Map a U[0, 1) draw to a log-uniform value in ``[low, high)``."""
    log_low = np.log(low)
    return float(np.exp(log_low + (np.log(high) - log_low) * uniform))


def strain_cell(
    reference: np.ndarray, pbc: np.ndarray, normals: np.ndarray, cell_sigma: float
) -> np.ndarray:
    """Strain every periodic lattice vector of ``reference`` by its own length.

    Row ``i`` becomes ``a_i + cell_sigma·|a_i|·z_i``; rows of non-periodic axes
    are returned unchanged.

    Parameters
    ----------
    reference
        (3, 3) cell the strain is drawn around (the seed's), rows = vectors.
    pbc
        (3,) periodic axes.
    normals
        (3, 3) standard-normal draws ``z``.
    cell_sigma
        Relative strain amplitude (dimensionless).
    """
    lengths = np.linalg.norm(reference, axis=1, keepdims=True)  # (3, 1)
    noise = cell_sigma * lengths * normals * np.asarray(pbc, dtype=float)[:, None]
    return reference + noise


def cartesian(lattice: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Cartesian positions ``f·C`` of lattice coordinates in the completed cell.

    The inverse of :func:`fractional`. Zero rows (vacuum axes) are completed
    as in :meth:`ase.cell.Cell.complete`, so ``cartesian(fractional(R, C), C')``
    carries positions into a strained cell for structures of any periodicity.
    """
    return lattice @ Cell(cell).complete()


def rattle(normals: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian displacements ``sigma·z`` with their mean over atoms removed."""
    displacement = sigma * normals  # (N, 3)
    return displacement - displacement.mean(axis=0)


def relax_step(positions: np.ndarray, forces: np.ndarray, step: float) -> np.ndarray:
    """Move every atom by ``step`` Å along its own force direction."""
    norms = np.linalg.norm(forces, axis=1, keepdims=True)  # (N, 1)
    return positions + step * forces / np.maximum(norms, _MIN_FORCE_NORM)


def max_force(forces: np.ndarray) -> float:
    """Largest per-atom force norm (NaN if any force is not finite)."""
    if not np.isfinite(forces).all():
        return float("nan")
    return float(np.sqrt(np.einsum("ij,ij->i", forces, forces).max(initial=0.0)))


def early_stop_probability(delta_e_per_atom: float, kT: float) -> float:
    """``min(0.25, exp(−ΔE/kT))`` without overflow for ``ΔE < 0``."""
    if delta_e_per_atom <= 0.0:
        return 0.25
    return min(0.25, float(np.exp(-delta_e_per_atom / kT)))


def fractional(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Lattice coordinates ``R·C⁻¹`` in the completed cell (identity for molecules)."""
    return np.linalg.solve(Cell(cell).complete().T, positions.T).T


def similar_to_any(
    candidate: np.ndarray,
    cell: np.ndarray,
    pbc: np.ndarray,
    members: np.ndarray,
    threshold: float,
) -> bool:
    """Whether a candidate lies within ``threshold`` of any member.

    The distance to member ``m`` is the mean over atoms of
    ``|Δf_a·C|`` where ``Δf = f(candidate) − f(m)`` are lattice-coordinate
    differences, each structure in its own cell, wrapped to [−½, ½) on
    periodic axes (minimum image), and ``C`` is the candidate's completed cell.

    Parameters
    ----------
    candidate
        (N, 3) lattice coordinates of the candidate.
    cell
        (3, 3) the candidate's cell.
    pbc
        (3,) periodic axes.
    members
        (K, N, 3) lattice coordinates of the members, each in its own cell.
    threshold
        Mean per-atom distance (Å) below which two structures are the same.
    """
    periodic = np.flatnonzero(pbc)
    full = Cell(cell).complete()
    n_atoms = candidate.shape[0]
    chunk = max(1, _CHUNK_ATOMS // max(n_atoms, 1))  # members per pass, cache-sized
    for first in range(0, len(members), chunk):
        delta = candidate[None] - members[first : first + chunk]  # (k, N, 3)
        if len(periodic) == 3:
            delta -= np.floor(delta + 0.5)
        else:
            for axis in periodic:
                column = delta[..., axis]  # a view: wrapped in place
                column -= np.floor(column + 0.5)
        cartesian = delta.reshape(-1, 3) @ full  # (k·N, 3), one GEMM
        distance = np.sqrt(np.einsum("ij,ij->i", cartesian, cartesian))
        if (distance.reshape(-1, n_atoms).mean(axis=1) < threshold).any():
            return True
    return False


def too_close(atoms: Atoms, min_separation: float) -> bool:
    """Whether any pair of atoms, periodic images included, is closer than given."""
    if min_separation <= 0.0 or len(atoms) == 0:
        return False
    if atoms.pbc.all() and atoms.cell.rank == 3:
        from matscipy.neighbours import neighbour_list

        distances = neighbour_list("d", atoms, min_separation)
    else:
        distances = neighbor_list("d", atoms, min_separation, self_interaction=False)
    return bool((distances < min_separation).any())
