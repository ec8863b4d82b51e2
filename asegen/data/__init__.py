"""HDF5 datasets of ``ase.Atoms``: write, read, stream, convert and summarise.

One file holds any number of structures of any size: per-atom arrays are
concatenated and indexed by per-structure offsets, labels travel as ASE's
``SinglePointCalculator`` results, and ``info``, per-atom arrays and ``FixAtoms``
constraints round-trip. The layout is documented in ``docs/data-format.md``.

:func:`read_structures` and :func:`iter_structures` are the one reader of every
command: asegen HDF5 (lazily), any ``ase.io`` file, alignn training folders and
folders of structure files.

>>> from ase.build import bulk
>>> from asegen.data import H5Dataset, write
>>> write("cu.h5", [bulk("Cu"), bulk("Cu", cubic=True)])  # doctest: +SKIP
2
>>> H5Dataset("cu.h5")[-1]  # doctest: +SKIP
Atoms(symbols='Cu4', pbc=True, cell=[3.61, 3.61, 3.61])

The HDF5 names load on first use, so reading other formats never imports h5py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asegen.data._sources import iter_structures, read_structures

if TYPE_CHECKING:
    from asegen.data._convert import convert
    from asegen.data._reader import H5Dataset, read
    from asegen.data._summary import DatasetSummary, summarize
    from asegen.data._writer import H5Writer, write

__all__ = [
    "DatasetSummary",
    "H5Dataset",
    "H5Writer",
    "convert",
    "iter_structures",
    "read",
    "read_structures",
    "summarize",
    "write",
]

_MODULES = {  # the names whose modules import h5py, loaded on first access
    "DatasetSummary": "_summary",
    "H5Dataset": "_reader",
    "H5Writer": "_writer",
    "convert": "_convert",
    "read": "_reader",
    "summarize": "_summary",
    "write": "_writer",
}


def __getattr__(name: str) -> Any:
    """Load the HDF5 reader, writer, converter and summary on first access."""
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """List the lazy names too."""
    return sorted({*globals(), *_MODULES})
