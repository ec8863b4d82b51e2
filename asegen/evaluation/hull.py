"""The lower convex hull of energy per atom over composition."""

from __future__ import annotations

import numpy as np
from ase import Atoms

__all__ = ["LowerHull", "atomic_fractions"]


class LowerHull:
    """The lower convex hull of energy per atom over composition.

    Built with :class:`scipy.spatial.ConvexHull` on points (composition,
    E/atom): the lowest energy of each distinct composition of the reference
    set, its compositions expressed in the affine coordinates of their span
    (so a unary set, a binary set, a ternary set or a set whose compositions
    lie on a line all work), plus one point far above each composition so
    that the point set is never flat. The facets whose outward normal points
    to lower energy form the hull; the hull energy of a composition is the
    barycentric interpolation on the facet that contains it. A unary set's
    hull is its lowest energy per atom. Compositions outside the reference
    compositions' convex hull (an element the reference lacks, or a fraction
    beyond the range it covers) have no hull energy (NaN).

    Parameters
    ----------
    fractions
        ``(m, k)`` atomic fractions of the reference structures over ``k``
        elements.
    energies
        ``(m,)`` energies per atom in eV; non-finite ones are left out.
    """

    def __init__(self, fractions: np.ndarray, energies: np.ndarray) -> None:
        from scipy.spatial import ConvexHull

        fractions = np.asarray(fractions, dtype=float)
        energies = np.asarray(energies, dtype=float)
        finite = np.isfinite(energies)
        if not finite.any():
            raise ValueError("LowerHull needs at least one finite energy")
        points, inverse = np.unique(
            np.round(fractions[finite], 10), axis=0, return_inverse=True
        )
        lowest = np.full(len(points), np.inf)
        np.minimum.at(lowest, inverse.ravel(), energies[finite])
        self._origin = points[0]
        singular = np.linalg.svd(points - self._origin)
        rank = int((singular[1] > 1e-8).sum())
        self._basis = singular[2][:rank]  # (r, k) orthonormal span of compositions
        self._lowest = lowest
        self._inverse_maps = np.zeros((0, rank + 1, rank + 1))
        self._vertex_energy = np.zeros((0, rank + 1))
        if rank == 0:
            return
        coords = (points - self._origin) @ self._basis.T  # (u, r)
        ceiling = lowest.max() + 1.0 + np.ptp(lowest)
        hull = ConvexHull(
            np.vstack(
                [
                    np.column_stack([coords, lowest]),
                    np.column_stack([coords, np.full(len(coords), ceiling)]),
                ]
            )
        )
        facets = hull.simplices[hull.equations[:, -2] < -1e-9]
        facets = facets[(facets < len(coords)).all(axis=1)]
        corners = np.concatenate(  # (f, r + 1, r + 1): columns are vertices
            [coords[facets].transpose(0, 2, 1), np.ones((len(facets), 1, rank + 1))],
            axis=1,
        )
        self._inverse_maps = np.linalg.inv(corners)
        self._vertex_energy = lowest[facets]

    def __call__(self, fractions: np.ndarray) -> np.ndarray:
        """Return the ``(q,)`` hull energies per atom of ``(q, k)`` fractions."""
        centred = np.atleast_2d(np.asarray(fractions, dtype=float)) - self._origin
        coords = centred @ self._basis.T
        in_span = np.linalg.norm(centred - coords @ self._basis, axis=1) < 1e-6
        if not len(self._basis):
            return np.where(in_span, self._lowest[0], np.nan)
        homogeneous = np.column_stack([coords, np.ones(len(coords))])  # (q, r + 1)
        weights = np.einsum("fvc,qc->qfv", self._inverse_maps, homogeneous)
        inside = (weights > -1e-9).all(axis=2) & in_span[:, None]
        energy = np.einsum("qfv,fv->qf", weights, self._vertex_energy)
        hull = np.where(inside, energy, -np.inf).max(axis=1, initial=-np.inf)
        return np.where(np.isfinite(hull), hull, np.nan)


def atomic_fractions(atoms: Atoms, elements: list[int]) -> np.ndarray:
    """Atomic fractions over ``elements``; NaN row if ``atoms`` has others."""
    counts = np.array([(atoms.numbers == z).sum() for z in elements], dtype=float)
    if counts.sum() != len(atoms) or not len(atoms):
        return np.full(len(elements), np.nan)
    return counts / len(atoms)
