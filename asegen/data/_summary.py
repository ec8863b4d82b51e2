"""What a structure file holds, for ``asegen info``: counts, elements, labels."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.data import chemical_symbols

from asegen.data._alignn import alignn_index
from asegen.data._ase_files import ase_format
from asegen.data._layout import COUNT_ATTR, decode_json, is_hdf5
from asegen.data._reader import FileReader
from asegen.data._sources import iter_structures

__all__ = ["DatasetSummary", "summarize"]

_BLOCK_ATOMS = 1 << 20  # atoms per block when counting elements


@dataclass(frozen=True)
class DatasetSummary:
    """Counts describing a structure file.

    Attributes
    ----------
    path
        The file or folder summarised.
    file_format
        ``"asegen HDF5"``, or the ``ase.io`` format the file was read with.
    n_structures
        Number of (committed) structures.
    n_atoms_min, n_atoms_max, n_atoms_total
        Smallest, largest and total atom count (0 when there are no structures).
    elements
        Chemical symbol -> number of atoms, in order of atomic number.
    labels
        Calculator result (``energy``, ``forces``, ...) -> structures carrying
        it, sorted by name (as are ``info`` and ``arrays``).
    info
        ``info`` key -> structures carrying it.
    arrays
        Per-atom array (other than numbers and positions) -> structures carrying it.
    fixed
        Number of structures with a ``FixAtoms`` constraint.
    metadata
        Root attributes of an asegen HDF5 file (format, format_version,
        asegen_version, units); empty for other formats.
    """

    path: str
    file_format: str
    n_structures: int
    n_atoms_min: int
    n_atoms_max: int
    n_atoms_total: int
    elements: dict[str, int]
    labels: dict[str, int] = field(default_factory=dict)
    info: dict[str, int] = field(default_factory=dict)
    arrays: dict[str, int] = field(default_factory=dict)
    fixed: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


def summarize(
    path: str | os.PathLike[str], *, format: str | None = None
) -> DatasetSummary:
    """Summarise an asegen HDF5 file, or any ASE-readable file or folder.

    HDF5 files are summarised from their per-structure datasets without building
    ``Atoms`` (one holding no structures gives a summary of none); other
    sources are streamed, so memory stays flat.

    Parameters
    ----------
    path
        Anything :func:`asegen.data.iter_structures` reads.
    format
        ``ase.io`` format of non-HDF5 input; guessed when ``None``.

    Raises
    ------
    InputNotFoundError, DataFormatError
        For a missing, empty, unreadable or damaged source, as
        :func:`asegen.data.iter_structures`.
    """
    source = Path(path)
    if source.is_file() and is_hdf5(source):
        return _summarize_hdf5(source)
    images = iter_structures(source, format=format)
    index = alignn_index(source) if source.is_dir() else None
    if index is not None:
        file_format = f"alignn training folder ({index.name})"
    elif source.is_dir():
        file_format = f"folder read with ase.io ({format or 'format guessed per file'})"
    else:
        file_format = ase_format(source, format)
    return _summarize_images(source, images, file_format)


def _summarize_hdf5(path: Path) -> DatasetSummary:
    reader = FileReader(path)
    try:
        counts = np.zeros(len(chemical_symbols), dtype=np.int64)
        n_total = int(reader.n_atoms.sum())
        for start in range(0, n_total, _BLOCK_ATOMS):
            numbers = reader.numbers(start, min(start + _BLOCK_ATOMS, n_total))
            counts += np.bincount(numbers, minlength=len(counts))
        tallies: dict[str, dict[str, int]] = {"results": {}, "info": {}, "arrays": {}}
        fixed = 0
        for column in reader.columns:
            carried = int(column.present.sum())
            if column.spec.group == "constraints":
                fixed = carried
            else:
                tallies[column.spec.group][column.spec.name] = carried
        metadata = {
            key: decode_json(value) if key == "units" else _plain(value)
            for key, value in reader.attributes.items()
            if key != COUNT_ATTR
        }
        return DatasetSummary(
            path=str(path),
            file_format="asegen HDF5",
            n_structures=reader.count,
            n_atoms_min=int(reader.n_atoms.min()) if reader.count else 0,
            n_atoms_max=int(reader.n_atoms.max(initial=0)),
            n_atoms_total=n_total,
            elements=_elements(counts),
            labels=_sorted(tallies["results"]),
            info=_sorted(tallies["info"]),
            arrays=_sorted(tallies["arrays"]),
            fixed=fixed,
            metadata=metadata,
        )
    finally:
        reader.close()


def _summarize_images(
    path: Path, images: Iterable[Atoms], file_format: str
) -> DatasetSummary:
    counts = np.zeros(len(chemical_symbols), dtype=np.int64)
    labels: Counter[str] = Counter()
    info: Counter[str] = Counter()
    arrays: Counter[str] = Counter()
    fixed = 0
    n_structures = n_min = n_max = n_total = 0
    for atoms in images:
        size = len(atoms)
        n_min = size if n_structures == 0 else min(n_min, size)
        n_max = max(n_max, size)
        n_total += size
        n_structures += 1
        counts += np.bincount(atoms.numbers, minlength=len(counts))
        if atoms.calc is not None:
            labels.update(
                key for key, value in atoms.calc.results.items() if value is not None
            )
        info.update(atoms.info.keys())
        arrays.update(
            key for key in atoms.arrays if key not in ("numbers", "positions")
        )
        fixed += any(isinstance(c, FixAtoms) for c in atoms.constraints)
    return DatasetSummary(
        path=str(path),
        file_format=file_format,
        n_structures=n_structures,
        n_atoms_min=n_min,
        n_atoms_max=n_max,
        n_atoms_total=n_total,
        elements=_elements(counts),
        labels=_sorted(labels),
        info=_sorted(info),
        arrays=_sorted(arrays),
        fixed=fixed,
    )


def _elements(counts: np.ndarray) -> dict[str, int]:
    return {chemical_symbols[z]: int(n) for z, n in enumerate(counts) if n}


def _sorted(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items()))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
