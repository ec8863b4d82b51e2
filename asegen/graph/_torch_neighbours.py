"""Periodic neighbour lists in pure torch, on the device of the positions.

:func:`torch_neighbor_list` returns the pair set of
:func:`~asegen.graph.neighbor_list` (ASE's ``"ijS"`` meaning) without leaving
the device: a linked-cell search vectorised over atoms and bins, so it runs on
a GPU for large systems. Memory grows linearly with the number of atoms; the
candidate pairs are examined in chunks of bounded size.

1. Non-periodic cell rows are replaced by an orthonormal complement of the
   periodic rows (the pair set does not depend on them). Atoms are wrapped
   into the cell along periodic axes (the integer wrap is kept for the
   shifts) and binned by fractional coordinates, with bins at least
   ``cutoff`` high; along non-periodic axes the bins span the atoms.
2. Atoms are sorted by bin and only occupied bins are kept (a sorted list of
   bin ids, looked up with ``searchsorted``), so sparse systems cost nothing.
3. Every atom meets the atoms of the neighbouring bins: half of the
   non-zero bin offsets (13 of 26) and the later atoms of its own bin, which
   finds every pair once; the reverse pairs are added at the end. Along a periodic axis
   thinner than the cutoff the cell is one bin and the offsets are its
   periodic images. Candidates come from ``repeat_interleave`` over bin
   counts.
4. Candidates are filtered on the wrapped positions, then each survivor is
   tested once more on its defining vector ``positions[j] - positions[i] +
   S @ cell``: a pair is kept when its squared length is below
   ``cutoff**2``, as in matscipy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from asegen._structures import _MIN_PERIODIC_VOLUME
from asegen.errors import ConfigError, StructureError

__all__ = [
    "nearest_neighbors_torch",
    "open_neighbor_list",
    "open_pair_count",
    "torch_neighbor_list",
]

_MAX_GROWTH = 1000  # cutoff_extra steps before the search gives up

_DISTANCE_SCALE = 1e8  # distances equal to 1e-8 Å count as ties (as in neighbor_list)
_CHUNK = 1 << 21  # candidate pairs examined at once (bounds the working memory)
_MARGIN = 1e-9  # relative margin of bin widths and pre-filter against rounding
_MAX_BINS = 1 << 20  # bins per axis (keeps linear bin ids within int64)


def check_search_options(
    cutoff: float, max_neighbors: int | None, cutoff_extra: float | None = None
) -> None:
    """Raise :class:`~asegen.errors.ConfigError` for a bad cutoff or neighbour cap."""
    if not cutoff > 0:
        raise ConfigError(f"cutoff must be positive, got {cutoff}")
    if max_neighbors is not None and max_neighbors < 1:
        raise ConfigError(f"max_neighbors must be at least 1, got {max_neighbors}")
    if cutoff_extra is not None and not cutoff_extra > 0:
        raise ConfigError(f"cutoff_extra must be positive, got {cutoff_extra}")


def required_neighbors(
    n_atoms: int, pbc: Sequence[bool] | Tensor, max_neighbors: int | None
) -> int:
    """Neighbours every atom must reach before the ``cutoff_extra`` fallback stops.

    ``max_neighbors`` (one without a cap), but never more than a finite
    structure holds: a structure periodic along no axis has only
    ``n_atoms - 1`` neighbours for each atom at any cutoff.
    """
    wanted = 1 if max_neighbors is None else int(max_neighbors)
    if not any(bool(p) for p in pbc):
        wanted = min(wanted, n_atoms - 1)
    return wanted


def too_few_neighbors(i: Tensor, n_atoms: int, required: int) -> bool:
    """Whether some atom has fewer than ``required`` pairs as centre in ``i``."""
    if n_atoms == 0 or required <= 0:
        return False
    counts = torch.bincount(i, minlength=n_atoms)
    return bool((counts < required).any())


def grown_cutoff(cutoff: float, cutoff_extra: float, steps: int) -> float:
    """Return the cutoff after ``steps`` steps of the ``cutoff_extra`` fallback."""
    if steps > _MAX_GROWTH:
        raise ConfigError(
            f"the cutoff_extra fallback grew the cutoff {steps} times to "
            f"{cutoff + steps * cutoff_extra:.1f} Å without giving every atom "
            "enough neighbours"
        )
    return cutoff + steps * cutoff_extra


def torch_neighbor_list(
    positions: Tensor,
    cell: Tensor,
    pbc: Tensor | Sequence[bool],
    cutoff: float,
    *,
    max_neighbors: int | None = None,
    cutoff_extra: float | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[Tensor, Tensor, Tensor]:
    """Return the directed neighbour pairs within ``cutoff``, computed in torch.

    The pairs are those of :func:`~asegen.graph.neighbor_list` (and ASE's
    ``neighbor_list("ijS")``): ``i -> j`` with image shift ``S`` and pair
    vector ``positions[j] - positions[i] + S @ cell``, both directions,
    periodic images of an atom included, ``S`` zero along non-periodic axes.
    Like matscipy, a pair is kept when its squared length is below
    ``cutoff**2``; only the pair of an atom with itself (``i == j``,
    ``S == 0``) is excluded.

    Parameters
    ----------
    positions
        ``(N, 3)`` Cartesian positions, Å, on any device and of any float
        dtype; atoms may lie outside the cell.
    cell
        ``(3, 3)`` lattice vectors as rows; rows of non-periodic axes may be
        zero.
    pbc
        Three periodicity flags.
    cutoff
        Pair cutoff, Å.
    max_neighbors
        Keep only the ``K`` nearest neighbours of each centre, ties broken as
        in :func:`~asegen.graph.neighbor_list` (by one shared implementation).
    cutoff_extra
        alignn's fallback, as in :func:`~asegen.graph.neighbor_list`: while
        an atom has fewer than ``max_neighbors`` (one, without a cap)
        neighbours, search again with the cutoff grown by this step, Å.
    dtype
        Floating dtype of the search. float64 by default, whatever the dtype
        of ``positions``, so that pairs at the cutoff agree with the matscipy
        search to the rounding of the distance (about 1e-15 Å); float32
        moves that boundary by its own rounding.

    Returns
    -------
    i, j, S : torch.Tensor
        ``(E,)``, ``(E,)`` and ``(E, 3)`` int64 tensors on the device of
        ``positions``, sorted by ``i``.

    Raises
    ------
    asegen.errors.StructureError
        For non-finite positions or cell, or a zero-volume periodic cell.
    asegen.errors.ConfigError
        For a non-positive cutoff, ``max_neighbors`` or ``cutoff_extra``.
    """
    check_search_options(cutoff, max_neighbors, cutoff_extra)
    device = positions.device
    positions = positions.detach().to(dtype)
    cell = torch.as_tensor(cell).detach().to(device=device, dtype=dtype)
    pbc = torch.as_tensor(pbc, dtype=torch.bool).cpu()
    _check(positions, cell, pbc)
    if len(positions) == 0:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return empty, empty, torch.zeros((0, 3), dtype=torch.int64, device=device)
    i, j, shifts, d2 = _half_pairs(positions, cell, pbc, float(cutoff))
    if cutoff_extra is not None:
        n = len(positions)
        required = required_neighbors(n, pbc, max_neighbors)
        steps = 0
        while too_few_neighbors(torch.cat([i, j]), n, required):
            steps += 1
            wider = grown_cutoff(float(cutoff), cutoff_extra, steps)
            i, j, shifts, d2 = _half_pairs(positions, cell, pbc, wider)
    # Both directions, sorted by centre (the reverse vector is exactly -vector).
    partners = torch.cat([j, i])
    i, order = torch.sort(torch.cat([i, j]), stable=True)
    j = partners.index_select(0, order)
    shifts = torch.cat([shifts, -shifts]).index_select(0, order)
    if max_neighbors is not None:
        d = torch.cat([d2, d2]).index_select(0, order).sqrt()
        i, j, shifts, _ = nearest_neighbors_torch(i, j, shifts, d, max_neighbors)
    return i, j, shifts


def open_neighbor_list(
    positions: Tensor,
    batch: Tensor,
    cutoff: float,
    *,
    max_neighbors: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Directed pairs ``i -> j`` of structures periodic along no axis.

    Every pair of two atoms of the same structure (``batch``, sorted)
    closer than ``cutoff`` (two atoms at one position included), in the
    order of ``i`` then ``j``; ``max_neighbors`` keeps the nearest of each
    centre as :func:`~asegen.graph.neighbor_list` does. Every pair within a
    structure is compared, so work and memory grow with the sum of the
    squared atom counts (:func:`open_pair_count`): meant for molecules and
    clusters, where it is several times faster than a cell-list search.
    """
    counts = torch.bincount(batch)
    starts = (torch.cumsum(counts, 0) - counts)[batch]  # first atom of the structure
    per_atom = counts[batch]  # candidates of each centre: its structure's atoms
    i = torch.repeat_interleave(torch.arange(len(batch), device=batch.device), per_atom)
    first_pair = torch.cumsum(per_atom, 0) - per_atom
    j = starts[i] + torch.arange(len(i), device=batch.device) - first_pair[i]
    d2 = (positions[j] - positions[i]).pow(2).sum(-1)
    keep = (i != j) & (d2 < cutoff**2)
    i, j, d2 = i[keep], j[keep], d2[keep]
    if max_neighbors is not None:
        shifts = torch.zeros((len(i), 3), dtype=torch.int64, device=i.device)
        i, j, _, _ = nearest_neighbors_torch(i, j, shifts, d2.sqrt(), max_neighbors)
    return i, j


def open_pair_count(batch: Tensor) -> int:
    """Pairs :func:`open_neighbor_list` compares: the sum of squared atom counts."""
    return int(torch.bincount(batch).pow(2).sum()) if len(batch) else 0


def nearest_neighbors_torch(
    i: Tensor, j: Tensor, shifts: Tensor, d: Tensor, k: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Keep the ``k`` nearest neighbours of every centre, ties broken stably.

    Ties are ordered by distance rounded to 1e-8 Å, then neighbour index,
    then shift; the survivors keep their input order. The numpy
    ``nearest_neighbors`` of :func:`~asegen.graph.neighbor_list` calls this
    function, so both searches cut the same pairs.

    One sort by (centre, rounded distance) decides the cut unless two pairs
    of one centre tie in distance across it; only then are neighbour index
    and shift sorted too.
    """
    if len(i) == 0:
        return i, j, shifts, d
    counts = torch.bincount(i)
    if int(counts.max()) <= k:
        return i, j, shifts, d
    # rint(d * 1e8) orders exactly like numpy's round(d, 8) = rint(d * 1e8) / 1e8
    distance = torch.round(d.to(torch.float64) * _DISTANCE_SCALE).to(torch.int64)
    starts = torch.cumsum(counts, 0) - counts
    span = int(distance.max()) + 1
    if len(counts) * span < 2**62:  # (centre, distance) fits one int64 key
        key = i * span + distance
        sorted_key, order = torch.sort(key, stable=True)
        rank = (
            torch.arange(len(order), device=i.device) - starts[i.index_select(0, order)]
        )
        cut = (rank == k).nonzero().squeeze(1)
        if not bool((sorted_key[cut] == sorted_key[cut - 1]).any()):
            return _take(order[rank < k], i, j, shifts, d)
    keys = (shifts[:, 2], shifts[:, 1], shifts[:, 0], j, distance, i)
    order = torch.arange(len(i), device=i.device)
    for key in keys:  # least significant key first, like numpy.lexsort
        order = order[torch.sort(key[order], stable=True).indices]
    rank = torch.arange(len(order), device=i.device) - starts[i[order]]
    return _take(order[rank < k], i, j, shifts, d)


def _take(
    keep: Tensor, i: Tensor, j: Tensor, shifts: Tensor, d: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Take the rows ``keep`` of each pair array, in their input order."""
    keep = torch.sort(keep).values
    return tuple(a.index_select(0, keep) for a in (i, j, shifts, d))  # type: ignore[return-value]


def _check(positions: Tensor, cell: Tensor, pbc: Tensor) -> None:
    """Raise :class:`StructureError` as :func:`asegen._structures.check_atoms`."""
    finite = torch.isfinite(positions).all(dim=1)
    if not bool(finite.all()):
        bad = int(torch.nonzero(~finite)[0, 0])
        raise StructureError(
            f"structure has a non-finite position (atom {bad}); "
            "remove or fix the structure before using it"
        )
    host = cell.cpu().double()
    if not bool(torch.isfinite(host).all()):
        raise StructureError("structure has a non-finite cell; set a finite cell")
    if pbc.any():
        rows = host[pbc]
        volume = math.sqrt(max(float(torch.linalg.det(rows @ rows.T)), 0.0))
        if volume < _MIN_PERIODIC_VOLUME:
            axes = "".join("xyz"[k] for k in torch.nonzero(pbc)[:, 0].tolist())
            raise StructureError(
                f"structure is periodic along {axes} but its cell has zero volume "
                f"there (pbc={pbc.tolist()}); set a cell with atoms.set_cell(...) "
                "or turn periodicity off with atoms.pbc = False"
            )


def _search_cell(cell: Tensor, pbc: Tensor) -> Tensor:
    """Replace non-periodic rows by an orthonormal complement of the periodic ones.

    In fractional coordinates of this cell, a non-periodic coordinate is the
    Cartesian projection on a unit vector perpendicular to the periodic rows.
    """
    n_periodic = int(pbc.sum())
    if n_periodic == 3:
        return cell
    rows = torch.zeros(3, 3, dtype=torch.float64)
    rows[:n_periodic] = cell[pbc]
    # Right singular vectors beyond the rank of the periodic rows span their
    # orthogonal complement.
    complement = torch.linalg.svd(rows).Vh[n_periodic:]
    search = cell.clone()
    search[~pbc] = complement
    return search


def _half_pairs(
    positions: Tensor, cell: Tensor, pbc: Tensor, cutoff: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Return every pair closer than ``cutoff`` in one direction, and ``d**2``.

    The squared length is that of the defining vector
    ``positions[j] - positions[i] + S @ cell``.
    """
    device, dtype = positions.device, positions.dtype
    margin = max(_MARGIN, 1e4 * torch.finfo(dtype).eps)
    search = _search_cell(cell.cpu().double(), pbc)
    inverse = torch.linalg.inv(search)
    heights = 1.0 / inverse.norm(dim=0)  # perpendicular heights of the cell

    frac = positions @ inverse.to(device=device, dtype=dtype)
    periodic = pbc.to(device)
    wrap = torch.where(periodic, torch.floor(frac), torch.zeros_like(frac))
    frac = frac - wrap
    wrapped = positions - wrap @ cell  # positions = wrapped + wrap @ cell

    # One synchronisation for every host-side number of the geometry.
    stats = torch.cat(
        [frac.min(dim=0).values, frac.max(dim=0).values, positions.abs().max()[None]]
    ).tolist()
    low, high, largest = stats[0:3], stats[3:6], stats[6]
    n_bins, width, origin, reach = [], [], [], []
    for axis in range(3):
        if pbc[axis]:
            height, origin_axis = float(heights[axis]), 0.0
        else:  # the coordinate is in Å and the bins span the atoms
            height, origin_axis = high[axis] - low[axis], low[axis]
        n = min(_MAX_BINS, max(1, math.floor(height / (cutoff * (1 + margin)))))
        n_bins.append(n)
        origin.append(origin_axis)
        if not pbc[axis]:
            width.append(max(height / n, cutoff))
            reach.append(min(1, n - 1))
        elif n > 1:
            width.append(1.0 / n)
            reach.append(1)
        else:  # thinner than the cutoff: one bin, and its images are the offsets
            width.append(1.0)
            reach.append(math.floor(cutoff / height * (1 + margin)) + 1)

    n_bins_t = torch.tensor(n_bins, device=device)
    coords = torch.floor(
        (frac - torch.tensor(origin, device=device, dtype=dtype))
        / torch.tensor(width, device=device, dtype=dtype)
    ).to(torch.int64)
    coords = torch.minimum(coords.clamp(min=0), n_bins_t - 1)
    strides = torch.tensor([n_bins[1] * n_bins[2], n_bins[2], 1], device=device)

    # Sort atoms by bin; keep only the occupied bins.
    order = torch.sort((coords * strides).sum(dim=1), stable=True).indices
    bins, bin_of, counts = torch.unique_consecutive(
        (coords[order] * strides).sum(dim=1), return_inverse=True, return_counts=True
    )
    starts = torch.cumsum(counts, 0) - counts
    positions, wrapped = positions[order], wrapped[order]
    wrap = wrap[order].to(torch.int64)

    # Half of the offsets (the first non-zero component positive) and the zero
    # offset, where only later atoms of the same bin are taken: the reverse of
    # every pair comes from the opposite offset, so each pair is found once.
    offsets = torch.tensor(
        list(itertools.product(*(range(-r, r + 1) for r in reach))), device=device
    )
    offsets = offsets[len(offsets) // 2 :]  # product order: zero, then positive
    bin_coords = torch.stack(
        [bins // strides[0], (bins // strides[1]) % n_bins[1], bins % n_bins[2]], 1
    )
    target = bin_coords[:, None, :] + offsets[None, :, :]  # (M, K, 3)
    image = torch.div(target, n_bins_t, rounding_mode="floor")
    image = torch.where(periodic, image, torch.zeros_like(image))
    target = target - image * n_bins_t
    target_id = (target * strides).sum(dim=2)
    found = torch.searchsorted(bins, target_id).clamp(max=len(bins) - 1)
    found_ok = ((target >= 0) & (target < n_bins_t)).all(dim=2)
    found_ok &= bins[found] == target_id

    # Rows are (sorted atom, offset); a row's candidates are a slice of the
    # sorted atoms: those of the target bin (after the atom itself for the
    # zero offset).
    n_atoms, n_offsets = len(positions), len(offsets)
    position = torch.arange(n_atoms, device=device)
    row_count = torch.where(found_ok, counts[found], 0).index_select(0, bin_of)
    row_count[:, 0] = starts[bin_of] + counts[bin_of] - position - 1  # (N, K)
    row_first = starts[found].index_select(0, bin_of)
    row_first[:, 0] = position + 1
    row_count, row_first = row_count.reshape(-1), row_first.reshape(-1)
    row_end = torch.cumsum(row_count, 0)

    # Chunks of about _CHUNK candidates, whole rows each.
    total = int(row_end[-1])
    bounds = torch.searchsorted(
        row_end,
        torch.arange(1, max(1, -(-total // _CHUNK)), device=device) * _CHUNK,
        right=True,
    )
    cuts = torch.cat(
        [bounds.new_zeros(1), bounds, bounds.new_tensor([len(row_count)])]
    ).unique_consecutive()
    cut_rows = cuts.tolist()
    cut_pairs = [0, *row_end[cuts[1:] - 1].tolist()]

    # Candidates are filtered on the wrapped positions, one axis at a time
    # (gathers of contiguous columns are much faster than of (n, 3) rows).
    wrapped_columns = wrapped.T.contiguous()
    image = image.reshape(-1, 3)  # (M * K, 3): (bin, offset) -> image
    image_columns = (image.to(dtype) @ cell).T.contiguous()
    reach2 = (cutoff + margin * (cutoff + largest)) ** 2
    pieces = []
    for r0, r1, p0, p1 in zip(
        cut_rows[:-1], cut_rows[1:], cut_pairs[:-1], cut_pairs[1:], strict=True
    ):
        rows = torch.arange(r0, r1, device=device)
        atom = rows // n_offsets
        table = bin_of.index_select(0, atom) * n_offsets + rows % n_offsets
        base = [
            image_columns[axis].index_select(0, table)
            - wrapped_columns[axis].index_select(0, atom)
            for axis in range(3)
        ]
        counts_here = row_count[r0:r1]
        first = row_first[r0:r1] - (row_end[r0:r1] - counts_here)
        local = torch.repeat_interleave(
            torch.arange(r1 - r0, device=device), counts_here, output_size=p1 - p0
        )
        slot = torch.arange(p0, p1, device=device) + first.index_select(0, local)
        d2 = torch.zeros(p1 - p0, dtype=dtype, device=device)
        for axis in range(3):
            component = wrapped_columns[axis].index_select(0, slot)
            component += base[axis].index_select(0, local)
            d2.addcmul_(component, component)
        close = torch.nonzero(d2 < reach2)[:, 0]
        local, slot = local[close], slot[close]
        atom = atom[local]
        shifts = image[table[local]] + wrap[atom] - wrap[slot]
        # The defining vector decides (its rounding differs from the wrapped one).
        vectors = positions[slot] - positions[atom] + shifts.to(dtype) @ cell
        d2 = torch.einsum("ij,ij->i", vectors, vectors)
        keep = torch.nonzero(d2 < cutoff * cutoff)[:, 0]
        atom, slot = atom[keep], slot[keep]
        pieces.append((order[atom], order[slot], shifts[keep], d2[keep]))
    i, j, shifts, d2 = (torch.cat(parts) for parts in zip(*pieces, strict=True))
    return i, j, shifts, d2
