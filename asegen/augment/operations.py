"""Pure, vectorised operations of the rattle–relax–repeat loop.

Every function takes and returns NumPy arrays (cells as rows, like ASE) and
holds no state, so each can be tested on its own. Random numbers come in as
arguments: the caller owns the random streams and their draw order.
"""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.geometry.cell import complete_cell
from ase.neighborlist import neighbor_list
from scipy.spatial import cKDTree

__all__ = [
    "DECIMALS",
    "LogUniform",
    "StrainDraw",
    "any_within",
    "cartesian",
    "choose_index",
    "complete",
    "cumulative",
    "early_stop_probability",
    "fractional",
    "log_uniform",
    "max_force",
    "parent_probabilities",
    "quantize",
    "rattle",
    "rattled",
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

try:  # the gufunc behind np.linalg.solve (float64); its Python checks cost more
    from numpy.linalg import _umath_linalg

    _solve = _umath_linalg.solve
except (ImportError, AttributeError):  # pragma: no cover - other NumPy layouts
    _solve = None

_MIN_FORCE_NORM = 1e-6  # eV/Å: below it an atom's step direction is ill-defined
_CHUNK_ATOMS = 1 << 14  # atoms compared per vectorised pass (fits in cache)


def quantize(positions: np.ndarray) -> np.ndarray:
    """Round Cartesian positions (Å) to :data:`DECIMALS` decimals."""
    return np.asarray(positions).round(DECIMALS)


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


def cumulative(probabilities: np.ndarray) -> np.ndarray:
    """Return the CDF :func:`choose_index` inverts (last entry exactly 1)."""
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    return cdf


def choose_index(
    probabilities: np.ndarray, uniform: float, *, cdf: np.ndarray | None = None
) -> int:
    """Index drawn from ``probabilities`` by inverting their CDF at ``uniform``.

    ``cdf``, :func:`cumulative` of ``probabilities``, saves recomputing it for
    repeated draws from the same probabilities.
    """
    if cdf is None:
        cdf = cumulative(probabilities)
    return int(cdf.searchsorted(uniform, side="right"))


def log_uniform(uniform: float, low: float, high: float) -> float:
    """Map a U[0, 1) draw to a log-uniform value in ``[low, high)``."""
    return LogUniform(low, high)(uniform)


class LogUniform:
    """:func:`log_uniform` on one range, its logarithms taken once."""

    def __init__(self, low: float, high: float) -> None:
        self._log_low = np.log(low)
        self._span = np.log(high) - self._log_low

    def __call__(self, uniform: float) -> float:
        """Map a U[0, 1) draw to a log-uniform value in the range."""
        return float(np.exp(self._log_low + self._span * uniform))


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
    return StrainDraw(reference, pbc, cell_sigma)(normals)


class StrainDraw:
    """:func:`strain_cell` around one reference cell, its lengths computed once."""

    def __init__(
        self, reference: np.ndarray, pbc: np.ndarray, cell_sigma: float
    ) -> None:
        self.reference = np.array(reference, dtype=float)  # a snapshot
        lengths = np.linalg.norm(self.reference, axis=1, keepdims=True)  # (3, 1)
        self._scale = cell_sigma * lengths
        mask = np.asarray(pbc, dtype=float)[:, None]
        self._mask = None if mask.all() else mask  # × 1.0 changes nothing

    def __call__(self, normals: np.ndarray) -> np.ndarray:
        """Return the strained cell for (3, 3) standard-normal draws ``normals``."""
        noise = self._scale * normals
        if self._mask is not None:
            noise *= self._mask
        noise += self.reference  # reference + noise (addition commutes exactly)
        return noise


def complete(cell: np.ndarray) -> np.ndarray:
    """Return a new (3, 3) array: ``cell`` with its zero rows completed.

    The same as :meth:`ase.cell.Cell.complete` (orthonormal completion of
    vacuum axes), without the ``Cell`` for a cell with no zero row.
    """
    full = np.array(cell, dtype=float)
    if full.any(axis=1).all():
        return full
    return complete_cell(full)


def cartesian(
    lattice: np.ndarray, cell: np.ndarray, *, full: np.ndarray | None = None
) -> np.ndarray:
    """Cartesian positions ``f·C`` of lattice coordinates in the completed cell.

    The inverse of :func:`fractional`. Zero rows (vacuum axes) are completed
    as in :meth:`ase.cell.Cell.complete`, so ``cartesian(fractional(R, C), C')``
    carries positions into a strained cell for structures of any periodicity.
    ``full``, :func:`complete` of ``cell``, saves completing it again.
    """
    return lattice @ (complete(cell) if full is None else full)


def rattle(normals: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian displacements ``sigma·z`` with their mean over atoms removed."""
    displacement = sigma * normals  # (N, 3)
    displacement -= displacement.mean(axis=0)
    return displacement


def rattled(
    positions: np.ndarray,
    normals: np.ndarray,
    sigma: float,
    fixed: np.ndarray | None = None,
) -> np.ndarray:
    """``quantize(positions + rattle(normals, sigma))``, overwriting ``normals``.

    Atoms of the mask ``fixed`` (``FixAtoms``) are not displaced, and
    the mean displacement is removed over the other atoms only. Positions
    already quantized stay bit-identical (rounding them again changes nothing).
    """
    normals *= sigma
    if fixed is None:
        normals -= np.add.reduce(normals, axis=0) / len(normals)  # the mean, as .mean
    else:
        normals[fixed] = 0.0
        free = ~fixed
        if free.any():
            normals[free] -= normals[free].mean(axis=0)
    normals += positions  # positions + displacement (addition commutes exactly)
    return normals.round(DECIMALS, out=normals)


def relax_step(
    positions: np.ndarray,
    forces: np.ndarray,
    step: float,
    fixed: np.ndarray | None = None,
) -> np.ndarray:
    """Move every atom not in the mask ``fixed`` by ``step`` Å along its force."""
    norms = np.sqrt(np.add.reduce(forces * forces, axis=1, keepdims=True))  # (N, 1)
    moved = positions + step * forces / np.maximum(norms, _MIN_FORCE_NORM)
    if fixed is not None:
        moved[fixed] = positions[fixed]
    return moved


def max_force(forces: np.ndarray) -> float:
    """Largest per-atom force norm (NaN if any force is not finite)."""
    largest = float(np.einsum("ij,ij->i", forces, forces).max(initial=0.0))
    if math.isfinite(largest):  # so is every force (NaN would have propagated)
        return math.sqrt(largest)
    if not np.isfinite(forces).all():
        return float("nan")
    return largest  # finite forces whose squares overflow: inf


def early_stop_probability(delta_e_per_atom: float, kT: float) -> float:
    """``min(0.25, exp(−ΔE/kT))`` without overflow for ``ΔE < 0``."""
    if delta_e_per_atom <= 0.0:
        return 0.25
    return min(0.25, float(np.exp(-delta_e_per_atom / kT)))


def fractional(
    positions: np.ndarray, cell: np.ndarray, *, full: np.ndarray | None = None
) -> np.ndarray:
    """Lattice coordinates ``R·C⁻¹`` in the completed cell (identity for molecules).

    ``full``, :func:`complete` of ``cell``, saves completing it again.
    """
    if full is None:
        full = complete(cell)
    if _solve is not None and positions.dtype == full.dtype == np.float64:
        # np.linalg.solve's own kernel, without its Python-level checks
        lattice = _solve(full.T, positions.T, signature="dd->d").T
        if math.isfinite(lattice.sum()):
            return lattice
    return np.linalg.solve(full.T, positions.T).T  # raises for a singular cell


def similar_to_any(
    candidate: np.ndarray,
    cell: np.ndarray,
    pbc: np.ndarray,
    members: np.ndarray,
    threshold: float,
    *,
    full: np.ndarray | None = None,
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
    full
        :func:`complete` of ``cell``, if already at hand.
    """
    if len(members) == 0:
        return False
    periodic = tuple(axis for axis in range(3) if pbc[axis])
    return any_within(
        candidate,
        complete(cell) if full is None else full,
        periodic,
        members,
        threshold,
    )


def any_within(
    candidate: np.ndarray,
    full: np.ndarray,
    periodic: tuple[int, ...],
    members: np.ndarray,
    threshold: float,
) -> bool:
    """:func:`similar_to_any` given the completed cell and the periodic axes."""
    n_atoms = candidate.shape[0]
    chunk = max(1, _CHUNK_ATOMS // max(n_atoms, 1))  # members per pass, cache-sized
    for first in range(0, len(members), chunk):
        delta = candidate - members[first : first + chunk]  # (k, N, 3)
        if len(periodic) == 3:
            delta -= np.floor(delta + 0.5)
        else:
            for axis in periodic:
                column = delta[..., axis]  # a view: wrapped in place
                column -= np.floor(column + 0.5)
        cartesian = delta.reshape(-1, 3) @ full  # (k·N, 3), one GEMM
        distance = np.sqrt(np.einsum("ij,ij->i", cartesian, cartesian))
        total = np.add.reduce(distance.reshape(-1, n_atoms), axis=1)
        if (total / n_atoms < threshold).any():  # the mean, as ndarray.mean
            return True
    return False


def too_close(atoms: Atoms, min_separation: float) -> bool:
    """Whether any pair of atoms, periodic images included, is closer than given."""
    if min_separation <= 0.0 or len(atoms) == 0:
        return False
    if atoms.pbc.all() and atoms.cell.rank == 3:
        from matscipy.neighbours import neighbour_list

        distances = neighbour_list("d", atoms, min_separation)
    elif not atoms.pbc.any():  # a molecule: no images, a k-d tree is cheapest
        positions = atoms.positions
        pairs = cKDTree(positions).query_pairs(min_separation, output_type="ndarray")
        if len(pairs) == 0:
            return False
        distances = np.linalg.norm(
            positions[pairs[:, 0]] - positions[pairs[:, 1]], axis=1
        )
    else:
        distances = neighbor_list("d", atoms, min_separation, self_interaction=False)
    return bool((distances < min_separation).any())
