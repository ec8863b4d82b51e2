"""Read asegen HDF5 files: :func:`read` and the lazy, fork-safe :class:`H5Dataset`.

Random access is the hot path. At open a reader loads the small per-structure
datasets (counts, offsets, cells, pbc, presence masks, per-structure results and
``info``) into memory, about 200 bytes per structure, and reads per-atom rows of
uncompressed datasets straight from a read-only memory map of their HDF5 chunks,
whose file offsets ``H5Dchunk_iter`` lists once at open. Compressed datasets and
strings go through h5py.

Chunks protected by HDF5's Fletcher-32 checksum (every numeric dataset the
writer creates; older files have none) are read once through h5py, which verifies the
checksum, before their memory-mapped rows are used; a mismatch, like every other
read failure, is one :class:`~asegen.errors.DataFormatError` naming the file.
"""

from __future__ import annotations

import mmap
import operator
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from asegen.data._construct import new_atoms, new_calculator
from asegen.data._layout import (
    COUNT_ATTR,
    ColumnSpec,
    brief,
    damaged,
    decode_json,
    open_file,
    read_schema,
)
from asegen.errors import AsegenError, DataFormatError

__all__ = ["H5Dataset", "read"]

_RUN_LENGTH = 4096  # consecutive structures read as one block


class _AtomRows:
    """Rows of one per-atom dataset; uncompressed chunks are read from a memory map.

    The file offset of every chunk is listed once, at open, with h5py's
    ``chunk_iter``; where h5py lacks it (built against HDF5 before 1.12.3, as
    some macOS wheels are), or the dataset is compressed or holds strings, rows
    are read through h5py.
    """

    def __init__(self, dataset: h5py.Dataset, mapping: mmap.mmap, path: Path) -> None:
        self._dataset = dataset
        self._path = path
        self._source = dataset.asstr() if dataset.dtype.kind == "O" else dataset
        self._mapping: mmap.mmap | None = None
        self._views: list[np.ndarray | None] = []
        filters = dataset.id.get_create_plist().get_nfilters()
        if (
            dataset.chunks is not None
            and dataset.dtype.kind in "biufc"
            and filters == int(dataset.fletcher32)
            and hasattr(dataset.id, "chunk_iter")
        ):
            self._mapping = mapping
            self._chunk_rows = dataset.chunks[0]
            self._offsets = self._chunk_offsets()
            self._views = [None] * len(self._offsets)

    def _chunk_offsets(self) -> np.ndarray:
        """File offset of each chunk, -1 where a chunk was never written."""
        dataset, rows = self._dataset, self._chunk_rows
        offsets = np.full(-(-dataset.shape[0] // rows), -1, dtype=np.int64)

        def visit(info: Any) -> None:
            offsets[info.chunk_offset[0] // rows] = info.byte_offset

        dataset.id.chunk_iter(visit)
        return offsets

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return a copy of rows ``start:stop``.

        Raises
        ------
        DataFormatError
            If a chunk fails its checksum or cannot be read.
        """
        try:
            return self._read(start, stop)
        except OSError as err:
            raise corrupt(self._path, self._dataset.name, err) from None

    def _read(self, start: int, stop: int) -> np.ndarray:
        if self._mapping is None or stop <= start:
            return self._source[start:stop]
        size = self._chunk_rows
        first, last = start // size, (stop - 1) // size
        if first == last:
            base = first * size
            return self._chunk(first)[start - base : stop - base].copy()
        return np.concatenate(
            [
                self._chunk(index)[max(start - index * size, 0) : stop - index * size]
                for index in range(first, last + 1)
            ]
        )

    def close(self) -> None:
        """Drop the views into the memory map so it can be closed."""
        self._views = []

    def _chunk(self, index: int) -> np.ndarray:
        view = self._views[index]
        if view is None:
            offset = int(self._offsets[index])
            if offset < 0:
                what = f"chunk {index} of {self._dataset.name} was never written"
                if self._dataset.name.startswith("/atoms/"):
                    raise damaged(self._path, ValueError(what))
                raise DataFormatError(  # a column that first appeared late (old files)
                    f"{self._path} is a damaged HDF5 file ({what}); open it for "
                    "appending once to repair it, else restore it from a backup"
                )
            chunks = self._dataset.chunks
            if self._dataset.fletcher32:  # HDF5 verifies the checksum on read
                first = index * chunks[0]
                self._dataset[first : min(first + chunks[0], self._dataset.shape[0])]
            view = np.frombuffer(
                self._mapping,
                dtype=self._dataset.dtype,
                count=int(np.prod(chunks)),
                offset=offset,
            ).reshape(chunks)
            self._views[index] = view
        return view


@dataclass
class _Column:
    spec: ColumnSpec
    present: np.ndarray  # (S,) bool
    values: Any  # (S, ...) array in memory, or _AtomRows for per-atom columns


class FileReader:
    """One process's open file: in-memory per-structure data plus atom rows."""

    def __init__(self, path: Path, *, limit: int | None = None) -> None:
        self.path = path
        self._file = open_file(path, "r")
        self._rows: list[_AtomRows] = []
        self._mapping: mmap.mmap | None = None
        try:
            with path.open("rb") as handle:
                self._mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self._load(limit)
        except AsegenError:
            self.close()
            raise
        except OSError as err:
            self.close()
            if "filter" in str(err):  # a Fletcher-32 checksum mismatch
                raise corrupt(path, "its per-structure data", err) from None
            raise damaged(path, err) from None
        except (KeyError, ValueError) as err:
            self.close()
            raise damaged(path, err) from None

    def _load(self, limit: int | None) -> None:
        count = int(self._file.attrs[COUNT_ATTR])
        if limit is not None:
            if count < limit:
                raise DataFormatError(
                    f"{self.path} now holds {count} structures, fewer than the "
                    f"{limit} it held when opened; open it again"
                )
            count = limit
        structures = self._file["structures"]
        self.n_atoms = structures["n_atoms"][:count]
        self.offset = structures["offset"][:count]
        self.cell = structures["cell"][:count]
        self.pbc = structures["pbc"][:count]
        _check_index(self.path, self.n_atoms, self.offset, count)
        n_total = int(self.offset[-1] + self.n_atoms[-1]) if count else 0
        self._numbers = self._atom_rows(self._file["atoms/numbers"], n_total)
        self._positions = self._atom_rows(self._file["atoms/positions"], n_total)
        self.columns: list[_Column] = []
        for spec in read_schema(self._file).values():
            group = self._file[spec.path]
            value = group["value"]
            if spec.per_atom:
                values = self._atom_rows(value, n_total)
            elif spec.kind in ("str", "json"):
                values = value.asstr()[:count]
            else:
                values = value[:count]
            self.columns.append(_Column(spec, group["present"][:count], values))
        lengths = [len(self.n_atoms), len(self.offset), len(self.cell), len(self.pbc)]
        lengths += [len(column.present) for column in self.columns]
        lengths += [len(c.values) for c in self.columns if not c.spec.per_atom]
        if min(lengths, default=count) < count:
            raise damaged(self.path, ValueError(f"datasets shorter than {count} rows"))
        self.count = count
        self._atom_columns = [c for c in self.columns if c.spec.per_atom]
        self._structure_columns = [c for c in self.columns if not c.spec.per_atom]

    def _atom_rows(self, dataset: h5py.Dataset, n_total: int) -> _AtomRows:
        if dataset.shape[0] < n_total:
            raise damaged(self.path, ValueError(f"{dataset.name} is too short"))
        rows = _AtomRows(dataset, self._mapping, self.path)
        self._rows.append(rows)
        return rows

    @property
    def attributes(self) -> dict[str, Any]:
        """The root attributes of the file (format, versions, units, count)."""
        return dict(self._file.attrs)

    def numbers(self, start: int, stop: int) -> np.ndarray:
        """Return the atomic numbers of atom rows ``start:stop`` (uint8)."""
        return self._numbers.read(start, stop)

    def close(self) -> None:
        """Release the memory map and the HDF5 file."""
        for rows in self._rows:
            rows.close()
        if self._mapping is not None:
            self._mapping.close()
        self._file.close()

    def structures(self, indices: Iterable[int]) -> list[Atoms]:
        """Build the ``Atoms`` of valid, non-negative ``indices`` in that order.

        Raises
        ------
        DataFormatError
            If rows fail their checksum or cannot be read.
        """
        atoms: list[Atoms] = []
        for first, stop in _runs(indices):
            atoms.extend(self._run(first, stop))
        return atoms

    def _run(self, first: int, stop: int) -> list[Atoms]:
        offset, n_atoms = self.offset, self.n_atoms
        low = int(offset[first])
        high = int(offset[stop - 1] + n_atoms[stop - 1])
        numbers = self._numbers.read(low, high)
        positions = self._positions.read(low, high)
        blocks = [
            (column, column.values.read(low, high))
            for column in self._atom_columns
            if column.present[first:stop].any()
        ]
        images = []
        for k in range(first, stop):
            start = int(offset[k]) - low
            stop_k = start + int(n_atoms[k])
            atoms = new_atoms(
                numbers[start:stop_k],
                positions[start:stop_k],
                self.cell[k],
                self.pbc[k],
            )
            results: dict[str, Any] = {}
            fixed = None
            for column, block in blocks:
                if not column.present[k]:
                    continue
                spec, value = column.spec, block[start:stop_k]
                if spec.group == "arrays":
                    atoms.new_array(
                        spec.name, value.astype(str) if spec.kind == "str" else value
                    )
                elif spec.group == "results":
                    results[spec.name] = value.copy()
                else:
                    fixed = value
            info = {}
            for column in self._structure_columns:
                if column.present[k]:
                    value = _python_value(column.spec.kind, column.values[k])
                    if column.spec.group == "results":
                        results[column.spec.name] = value
                    else:
                        info[column.spec.name] = value
            if results:  # after the arrays, before info: as the calculator's copy
                atoms.calc = new_calculator(atoms, results)
            atoms.info = info
            if fixed is not None:
                atoms.set_constraint(FixAtoms(mask=fixed))
            images.append(atoms)
        return images


def _check_index(
    path: Path, n_atoms: np.ndarray, offset: np.ndarray, count: int
) -> None:
    """Check that the atom rows of the structures follow each other without gaps.

    Raises
    ------
    DataFormatError
        Naming the first structure whose ``n_atoms`` is negative or whose
        ``offset`` is not the sum of the counts before it.
    """
    if len(n_atoms) < count or len(offset) < count:
        raise damaged(path, ValueError(f"index datasets shorter than {count} rows"))
    expected = np.cumsum(n_atoms) - n_atoms
    bad = np.flatnonzero((n_atoms < 0) | (offset != expected))
    if len(bad):
        k = int(bad[0])
        raise DataFormatError(
            f"{path} is a damaged HDF5 file: structure {k} has n_atoms "
            f"{int(n_atoms[k])} and offset {int(offset[k])}, but the structures "
            f"before it end at atom row {int(expected[k])}; restore it from a "
            "backup or convert it again from its source"
        )


def corrupt(path: Path, name: str, err: OSError) -> DataFormatError:
    """Return the error for rows of dataset ``name`` that fail to read."""
    return DataFormatError(
        f"{path} is a damaged HDF5 file: {name} fails its checksum or cannot be "
        f"read ({brief(err)}); if a writer was killed while appending, open it "
        "for appending once to repair it, else restore it from a backup"
    )


def _runs(indices: Iterable[int]) -> list[list[int]]:
    """Split indices into ``[first, stop)`` runs of consecutive structures."""
    runs: list[list[int]] = []
    for k in indices:
        if runs and k == runs[-1][1] and k - runs[-1][0] < _RUN_LENGTH:
            runs[-1][1] = k + 1
        else:
            runs.append([k, k + 1])
    return runs


def _python_value(kind: str, stored: Any) -> Any:
    if kind == "json":
        return decode_json(stored)
    if isinstance(stored, np.ndarray):
        return stored.copy()
    if kind == "str":
        return stored
    return stored.item()


class H5Dataset:
    """A lazy, random-access sequence of ``ase.Atoms`` stored in an asegen HDF5 file.

    Supports ``len``, integer (also negative) and slice indexing, iteration, and
    ``__getitems__`` for batched fetching by ``torch.utils.data.DataLoader``.
    Items are ``Atoms`` with labels in a ``SinglePointCalculator``, ``info``,
    per-atom arrays and ``FixAtoms`` restored, exactly as :func:`read` returns.

    The file is opened on first access in each process (the process id is
    checked), so the dataset is safe to hand to DataLoader workers, forked or
    spawned: no open handle crosses a fork or a pickle. The length is fixed when
    the dataset is created; structures appended later need a new ``H5Dataset``.

    Parameters
    ----------
    path
        An asegen HDF5 file.

    Raises
    ------
    InputNotFoundError, DataFormatError
        If the file is missing, not HDF5, damaged, not an asegen file or of
        another format version.

    Examples
    --------
    >>> from torch.utils.data import DataLoader  # doctest: +SKIP
    >>> loader = DataLoader(H5Dataset("train.h5"), batch_size=64, shuffle=True,
    ...                     num_workers=2, collate_fn=list)  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        file = open_file(self.path, "r")
        try:
            self._length = int(file.attrs[COUNT_ATTR])
        finally:
            file.close()
        self._reader: FileReader | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        return f"H5Dataset({str(self.path)!r}) with {self._length} structures"

    def __getitem__(self, index: int | slice) -> Atoms | list[Atoms]:
        if isinstance(index, slice):
            return self._open().structures(range(self._length)[index])
        return self._open().structures([self._position(index)])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Atoms]:
        """Return the structures at ``indices``, reading runs of neighbours at once."""
        return self._open().structures([self._position(k) for k in indices])

    def __iter__(self) -> Iterator[Atoms]:
        for first in range(0, self._length, _RUN_LENGTH):
            stop = min(first + _RUN_LENGTH, self._length)
            yield from self._open().structures(range(first, stop))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_reader": None, "_pid": -1}

    def __enter__(self) -> H5Dataset:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close this process's handle; the next access opens the file again."""
        if self._reader is not None and self._pid == os.getpid():
            self._reader.close()
        self._reader = None

    def _open(self) -> FileReader:
        if self._reader is None or self._pid != os.getpid():
            # A handle inherited through fork is dropped, never used or closed here.
            self._reader = FileReader(self.path, limit=self._length)
            self._pid = os.getpid()
        return self._reader

    def _position(self, index: int) -> int:
        k = operator.index(index)
        position = k + self._length if k < 0 else k
        if not 0 <= position < self._length:
            raise IndexError(
                f"structure index {k} is out of range for {self._length} structures"
            )
        return position


def read(
    path: str | os.PathLike[str], index: int | slice | str = ":"
) -> Atoms | list[Atoms]:
    """Read structures from an asegen HDF5 file, with ``ase.io.read``'s index syntax.

    Unlike ``ase.io.read``, the default ``index=":"`` returns every structure
    (a list), not the last one.

    Parameters
    ----------
    path
        The HDF5 file.
    index
        An integer (negative counts from the end) returns one ``Atoms``; a slice
        or a string such as ``":"``, ``"-1"`` or ``"::10"`` (``ase.io`` syntax)
        returns a list, or one ``Atoms`` for an integer string.

    Returns
    -------
    ase.Atoms or list of ase.Atoms
        Labels in a ``SinglePointCalculator``; ``info``, per-atom arrays and
        ``FixAtoms`` restored.

    Raises
    ------
    InputNotFoundError, DataFormatError
        As :class:`H5Dataset`.
    """
    if isinstance(index, str):
        from ase.io.formats import string2index

        index = string2index(index)
    with H5Dataset(path) as dataset:
        return dataset[index]
