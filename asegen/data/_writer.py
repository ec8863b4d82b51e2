"""Write asegen HDF5 files: the streaming :class:`H5Writer` and :func:`write`.

Appending never rewrites stored rows: every dataset is chunked and resizable and
grows in place. A flush extends the datasets, flushes them to disk and only then
raises the committed count (root attribute ``n_structures``), so a reader never
sees a half-written structure and a writer that finds datasets longer than the
count (an interrupted flush) cuts them back before appending.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
from ase import Atoms

from asegen._version import __version__
from asegen.data._layout import (
    COLUMN_GROUPS,
    CORE_DATASETS,
    COUNT_ATTR,
    FORMAT_NAME,
    FORMAT_VERSION,
    UNITS,
    ColumnSpec,
    damaged,
    encode_json,
    open_file,
    open_hdf5,
    read_schema,
    replacing,
)
from asegen.data._records import Record, record_from_atoms
from asegen.errors import ConfigError, InputNotFoundError

__all__ = ["H5Writer", "write"]

_MAX_PENDING_STRUCTURES = 4096  # a flush happens at whichever limit comes first
_MAX_PENDING_ATOMS = 1 << 20
_CHUNK_BYTES = 1 << 16  # target size of one HDF5 chunk
_COPY_ROWS = 1 << 20  # rows per block when a column is widened
_COMPRESSIONS = (None, "gzip", "lzf")


class H5Writer:
    """Append ``ase.Atoms`` to an asegen HDF5 file, committing them on each flush.

    Structures are checked and copied on :meth:`append` (so a bad structure or a
    type conflict raises before the file is touched) and written in chunks:
    automatically every 4096 structures or 2**20 atoms, on :meth:`flush`, and on
    :meth:`close`. Only flushed structures are committed; leaving a ``with``
    block through an exception drops the unflushed ones and keeps the file valid.

    Parameters
    ----------
    path
        The HDF5 file.
    append
        Add to an existing file instead of replacing it. A file left longer than
        its committed count by an interrupted flush is repaired first.
    compression
        ``None`` (default, fastest random access), ``"gzip"`` or ``"lzf"``, for
        datasets this writer creates.

    Examples
    --------
    >>> from ase.build import bulk
    >>> with H5Writer("out.h5", append=True) as writer:  # doctest: +SKIP
    ...     writer.append(bulk("Cu"))
    ...     writer.flush()  # committed: survives a crash of what follows
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        append: bool = False,
        compression: str | None = None,
    ) -> None:
        if compression not in _COMPRESSIONS:
            raise ConfigError(
                f"unknown compression {compression!r}; use None, 'gzip' or 'lzf'"
            )
        self.path = Path(path)
        self._compression = compression
        self._pending: list[Record] = []
        self._pending_atoms = 0
        self._appended = 0
        self._warned: set[str] = set()
        if append and self.path.exists():
            self._file = open_file(self.path, "r+")
            try:
                self._repair()
            except BaseException:
                self._file.close()
                raise
        else:
            if not self.path.parent.is_dir():
                raise InputNotFoundError(
                    f"folder {self.path.parent} does not exist; create it first"
                )
            self._file = open_hdf5(self.path, "w")
            self._initialise()
        self._schema = read_schema(self._file)

    def __len__(self) -> int:
        return self._committed + len(self._pending)

    def __enter__(self) -> H5Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._pending.clear()
            self._file.close()

    def append(self, atoms: Atoms) -> None:
        """Check ``atoms`` and queue it; flush when the queue is full.

        Raises
        ------
        StructureError
            If ``atoms`` fails :func:`asegen._structures.check_atoms`.
        DataFormatError
            If a value cannot be stored or conflicts with the type of its column.
        """
        name = f"structure {self._appended}"
        record = record_from_atoms(atoms, name=name, warn=self._warn_once)
        schema = dict(self._schema)
        for key, (spec, _) in record.columns.items():
            known = schema.get(key)
            schema[key] = spec if known is None else known.merged(spec, where=name)
        self._schema = schema
        self._pending.append(record)
        self._pending_atoms += len(record.numbers)
        self._appended += 1
        if (
            len(self._pending) >= _MAX_PENDING_STRUCTURES
            or self._pending_atoms >= _MAX_PENDING_ATOMS
        ):
            self.flush()

    def extend(self, images: Iterable[Atoms]) -> None:
        """Append every structure of ``images`` (streamed, memory stays flat)."""
        for atoms in images:
            self.append(atoms)

    def flush(self) -> None:
        """Write the queued structures and commit them.

        If writing fails (disk full, ``KeyboardInterrupt``) the file is cut back
        to the structures committed before, and the queue is kept.
        """
        if not self._pending:
            return
        records = self._pending
        n_atoms = np.array([len(record.numbers) for record in records], dtype=np.int64)
        rows = self._rows(records, n_atoms)  # every conversion before any write
        start, start_atoms = self._committed, self._committed_atoms
        try:
            self._prepare_columns()
            for path, values in rows.items():
                dataset = self._file[path]
                first = start_atoms if dataset.attrs["per"] == "atom" else start
                dataset.resize(first + len(values), axis=0)
                dataset[first:] = values
            self._file.flush()  # data on disk before the count that vouches for it
            self._file.attrs[COUNT_ATTR] = start + len(records)
            self._file.flush()
        except BaseException:
            self._truncate(start)
            raise
        self._committed += len(records)
        self._committed_atoms += int(n_atoms.sum())
        self._pending = []
        self._pending_atoms = 0

    def close(self) -> None:
        """Flush the queued structures and close the file."""
        try:
            self.flush()
        finally:
            self._file.close()

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(message, UserWarning, stacklevel=5)

    def _initialise(self) -> None:
        attrs = self._file.attrs
        attrs["format"] = FORMAT_NAME
        attrs["format_version"] = FORMAT_VERSION
        attrs["asegen_version"] = __version__
        attrs["units"] = json.dumps(UNITS, ensure_ascii=False)
        attrs[COUNT_ATTR] = 0
        for path, (per, dtype, shape, unit) in CORE_DATASETS.items():
            group, name = path.split("/")
            parent = self._file.require_group(group)
            self._create_dataset(parent, name, dtype, shape, per, 0, unit=unit)
        for group in COLUMN_GROUPS:
            self._file.create_group(group)
        self._committed = self._committed_atoms = 0

    def _create_dataset(
        self,
        parent: h5py.Group,
        name: str,
        dtype: Any,
        shape: tuple[int, ...],
        per: str,
        length: int,
        *,
        unit: str | None = None,
        kind: str | None = None,
    ) -> h5py.Dataset:
        row_bytes = max(1, np.dtype(dtype).itemsize * math.prod(shape))
        chunk_rows = 1 << max(0, (_CHUNK_BYTES // row_bytes).bit_length() - 1)
        dataset = parent.create_dataset(
            name,
            shape=(length, *shape),
            maxshape=(None, *shape),
            chunks=(chunk_rows, *shape),
            dtype=dtype,
            compression=self._compression,
        )
        dataset.attrs["per"] = per
        if unit is not None:
            dataset.attrs["unit"] = unit
        if kind is not None:
            dataset.attrs["kind"] = kind
        return dataset

    def _rows(self, records: list[Record], n_atoms: np.ndarray) -> dict[str, Any]:
        rows: dict[str, Any] = {
            "structures/n_atoms": n_atoms,
            "structures/offset": self._committed_atoms + np.cumsum(n_atoms) - n_atoms,
            "structures/cell": np.stack([record.cell for record in records]),
            "structures/pbc": np.stack([record.pbc for record in records]),
            "atoms/numbers": np.concatenate([record.numbers for record in records]),
            "atoms/positions": np.concatenate([record.positions for record in records]),
        }
        starts = np.cumsum(n_atoms) - n_atoms
        for key, spec in self._schema.items():
            shape = (int(n_atoms.sum()) if spec.per_atom else len(records), *spec.shape)
            if spec.kind in ("str", "json"):
                value = np.full(shape, "", dtype=object)
            else:
                value = np.zeros(shape, dtype=spec.dtype)
            present = np.zeros(len(records), dtype=bool)
            for i, record in enumerate(records):
                entry = record.columns.get(key)
                if entry is None:
                    continue
                item_spec, item = entry
                if spec.kind == "json" and item_spec.kind != "json":
                    item = encode_json(item)
                if spec.per_atom:
                    value[starts[i] : starts[i] + n_atoms[i]] = item
                else:
                    value[i] = item
                present[i] = True
            rows[f"{spec.path}/value"] = value
            rows[f"{spec.path}/present"] = present
        return rows

    def _prepare_columns(self) -> None:
        stored = read_schema(self._file)
        for key, spec in self._schema.items():
            old = stored.get(key)
            if old is None:
                group = self._file.create_group(spec.path)
                self._create_dataset(
                    group, "present", np.bool_, (), "structure", self._committed
                )
                self._create_value(group, spec, self._length(spec))
            elif old.kind != spec.kind:
                self._widen(group=self._file[spec.path], old=old, new=spec)

    def _length(self, spec: ColumnSpec) -> int:
        return self._committed_atoms if spec.per_atom else self._committed

    def _create_value(
        self, group: h5py.Group, spec: ColumnSpec, length: int
    ) -> h5py.Dataset:
        per = "atom" if spec.per_atom else "structure"
        return self._create_dataset(
            group,
            "value",
            spec.dtype,
            spec.shape,
            per,
            length,
            unit=spec.unit,
            kind=spec.kind,
        )

    def _widen(self, *, group: h5py.Group, old: ColumnSpec, new: ColumnSpec) -> None:
        """Rewrite one column with the wider kind ``new`` (int -> float, x -> json).

        The one place where stored values are rewritten; until the old dataset
        is deleted it survives as ``value_old``, which :meth:`_repair` restores.
        """
        group.move("value", "value_old")
        source = group["value_old"]
        target = self._create_value(group, new, source.shape[0])
        stored = source.asstr() if old.kind == "str" else source
        for first in range(0, source.shape[0], _COPY_ROWS):
            block = stored[first : first + _COPY_ROWS]
            if new.kind == "json":
                block = np.array(
                    [encode_json(item) for item in block.tolist()], dtype=object
                )
            target[first : first + len(block)] = block
        del group["value_old"]

    def _repair(self) -> None:
        """Undo what an interrupted flush left behind, then trim to the count."""
        for group_name in COLUMN_GROUPS:
            for group in list(self._file[group_name].values()):
                if "value_old" in group:
                    if "value" in group:
                        del group["value"]
                    group.move("value_old", "value")
                if not {"value", "present"} <= set(group):
                    del self._file[group.name]
        self._truncate(int(self._file.attrs[COUNT_ATTR]))

    def _truncate(self, count: int) -> None:
        """Cut every dataset back to ``count`` structures; drop emptied columns."""
        file = self._file
        n_atoms = file["structures/n_atoms"][:count]
        if len(n_atoms) < count:
            raise damaged(self.path, ValueError(f"fewer than {count} structures"))
        n_rows = {"structure": count, "atom": int(n_atoms.sum())}
        changed = False
        for dataset in _datasets(file):
            length = n_rows[dataset.attrs["per"]]
            if dataset.shape[0] < length:
                raise damaged(self.path, ValueError(f"{dataset.name} is too short"))
            if dataset.shape[0] > length:
                dataset.resize(length, axis=0)
                changed = True
        for spec in read_schema(file).values():
            if not file[spec.path]["present"][:].any():
                del file[spec.path]
                changed = True
        if file.attrs[COUNT_ATTR] != count:
            file.attrs[COUNT_ATTR] = count
            changed = True
        if changed:
            file.flush()
        self._committed, self._committed_atoms = count, n_rows["atom"]


def _datasets(file: h5py.File) -> list[h5py.Dataset]:
    found: list[h5py.Dataset] = []
    file.visititems(
        lambda _, item: found.append(item) if isinstance(item, h5py.Dataset) else None
    )
    return found


def write(
    path: str | os.PathLike[str],
    images: Atoms | Iterable[Atoms],
    *,
    append: bool = False,
    compression: str | None = None,
) -> int:
    """Write structures to an asegen HDF5 file, all or nothing.

    ``images`` is streamed in chunks, so memory stays flat for any number of
    structures. If any structure fails its checks, nothing of this call stays:
    a new file is written under a temporary name and renamed at the end (an
    existing ``path`` is untouched until then), and an append is rolled back to
    the structures the file held before.

    Parameters
    ----------
    path
        The HDF5 file (conventionally ``.h5``).
    images
        One ``Atoms`` or any iterable of them (list, generator, ``ase.io.iread``).
    append
        Add to ``path`` if it exists instead of replacing it.
    compression
        ``None`` (default), ``"gzip"`` or ``"lzf"`` for newly created datasets.

    Returns
    -------
    int
        The number of structures written.

    Raises
    ------
    StructureError, DataFormatError, InputNotFoundError
        As :class:`H5Writer`, with the file left as it was.
    """
    target = Path(path)
    if isinstance(images, Atoms):
        images = [images]
    if append and target.exists():
        with H5Writer(target, append=True, compression=compression) as writer:
            start = len(writer)
            try:
                writer.extend(images)
                writer.flush()
            except BaseException:
                writer._truncate(start)
                raise
        return len(writer) - start
    with (
        replacing(target) as partial,
        H5Writer(partial, compression=compression) as out,
    ):
        out.extend(images)
    return len(out)
