"""Turn starting structures and an existing output into family tasks (resume).

Existing structures are grouped by ``info["starting-structure"]`` in the order
given (file order) and every family is topped up to ``n_per_structure``;
nothing is relabelled. Outputs of augment-atoms 0.2.0 are accepted too: uuid
ids, the seed's ``parent = True``, labels in ``info``/``arrays`` or in a
``SinglePointCalculator``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from asegen._structures import check_atoms
from asegen.augment.family import START_KEY, FamilyTask
from asegen.augment.operations import too_close
from asegen.errors import DataFormatError, StructureError

__all__ = ["as_images", "plan_tasks"]


def as_images(
    images: Atoms | Iterable[Atoms], *, min_separation: float = 0.0, source: str = ""
) -> list[Atoms]:
    """Check the starting structures and return them as a list.

    Parameters
    ----------
    images
        One structure or several.
    min_separation
        A structure with two atoms closer than this (Å) is refused: none of
        its children would ever be accepted.
    source
        Where they were read from, for the messages (e.g. ``"inputs.xyz"``).

    Raises
    ------
    StructureError, DataFormatError
        For a structure without atoms, with non-finite positions, a
        degenerate periodic cell or atoms closer than ``min_separation``;
        for no structures at all.
    """
    frames = [images] if isinstance(images, Atoms) else list(images)
    if not frames:
        raise DataFormatError("no starting structures were given; give at least one")
    for index, atoms in enumerate(frames):
        name = f"starting structure {index}" + (f" of {source}" if source else "")
        if not isinstance(atoms, Atoms):
            raise StructureError(f"{name} is a {type(atoms).__name__}, not ase.Atoms")
        if len(atoms) == 0:
            raise StructureError(f"{name} has no atoms; remove it from the input")
        check_atoms(atoms, name=name)
        if too_close(atoms, min_separation):
            first, second, distance = _closest_pair(atoms, min_separation)
            raise StructureError(
                f"{name} has atoms {first} and {second} {distance:.3g} Å apart, "
                f"closer than min_separation ({min_separation} Å); fix the "
                "structure or lower min_separation"
            )
    return frames


def _closest_pair(atoms: Atoms, cutoff: float) -> tuple[int, int, float]:
    """Return the closest pair of atoms within ``cutoff`` (periodic images too)."""
    from ase.neighborlist import neighbor_list

    first, second, distances = neighbor_list("ijd", atoms, cutoff)
    k = int(np.argmin(distances))
    return int(first[k]), int(second[k]), float(distances[k])


def plan_tasks(
    images: Sequence[Atoms], existing: Iterable[Atoms], *, size: int, output: str = ""
) -> list[FamilyTask]:
    """Group ``existing`` by starting structure; one task per family to top up.

    Parameters
    ----------
    images
        The checked starting structures.
    existing
        Structures already generated (labelled, with ``starting-structure``).
    size
        Target family size (``n_per_structure``).
    output
        Where ``existing`` was read from, for the messages.

    Raises
    ------
    DataFormatError
        If an existing structure has no valid ``starting-structure``, does not
        match its starting structure's atoms, or lacks an energy or a level.
    """
    families: dict[int, list[Atoms]] = {start: [] for start in range(len(images))}
    for index, atoms in enumerate(existing):
        name = f"existing structure {index}" + (f" of {output}" if output else "")
        start = _start_of(atoms, name, len(images))
        if not np.array_equal(atoms.numbers, images[start].numbers):
            raise DataFormatError(
                f"{name} does not have the atoms of starting "
                f"structure {start}; the output belongs to other inputs, use a new "
                "output file"
            )
        families[start].append(_as_member(atoms, name, start, len(families[start])))
    return [
        FamilyTask(start, images[start], members, size)
        for start, members in families.items()
        if len(members) < size
    ]


def _start_of(atoms: Atoms, name: str, count: int) -> int:
    start = atoms.info.get(START_KEY)
    if isinstance(start, bool | np.bool_) or not isinstance(start, int | np.integer):
        raise DataFormatError(
            f"{name} has no integer info['{START_KEY}']; the "
            "output was not written by augment, use a new output file"
        )
    if not 0 <= start < count:
        raise DataFormatError(
            f"{name} belongs to starting structure {start}, but "
            f"the input has {count}; use the input it was made from, or a new output"
        )
    return int(start)


def _as_member(atoms: Atoms, name: str, start: int, slot: int) -> Atoms:
    """Copy ``atoms``, labels in a SinglePointCalculator, with the loop's info keys."""
    member = atoms.copy()
    labels = dict(atoms.calc.results) if atoms.calc is not None else {}
    for key in ("energy", "stress", "free_energy"):
        if key in member.info:
            labels.setdefault(key, member.info.pop(key))
    if "forces" in member.arrays:
        labels.setdefault("forces", member.arrays.pop("forces"))
    if "energy" not in labels or "level" not in member.info:
        raise DataFormatError(
            f"{name} has no energy or no info['level']; the "
            "output was not written by augment, use a new output file"
        )
    member.calc = SinglePointCalculator(member, **labels)
    member.info[START_KEY] = start
    member.info.setdefault("id", f"{start}-{slot}")
    return member
