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
    APPEND_ATTR,
    APPENDED_GROUP,
    COLUMN_GROUPS,
    CORE_DATASETS,
    COUNT_ATTR,
    FORMAT_NAME,
    FORMAT_VERSION,
    UNITS,
    ColumnSpec,
    damaged,
    encode_json,
    is_permission_error,
    open_file,
    open_hdf5,
    permission_denied,
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
            self._file = self._created()
        self._schema = read_schema(self._file)

    def _created(self) -> Any:
        """Create the empty layout under a temporary name, then put it in place.

        A run killed while creating the file leaves no half-written file
        that the next run could not open (its temporary is removed later).
        """
        with replacing(self.path) as partial:
            try:
                self._file = open_hdf5(partial, "w")
            except OSError as err:
                if is_permission_error(err):
                    raise permission_denied(self.path, err) from None
                raise
            self._initialise()
            self._file.close()
        return open_file(self.path, "r+")

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

    @property
    def unfinished_append(self) -> str | None:
        """The note of an append in progress (see :meth:`note_append`), or ``None``."""
        note = self._file.attrs.get(APPEND_ATTR)
        return None if note is None else bytes(note).decode()

    def note_append(self, note: str | None) -> None:
        """Store (``None``: remove) the note of an append in progress, on disk now.

        ``asegen convert --append`` notes its source and the count it started
        from, so that a rerun after a crash continues instead of starting over.
        The note is fixed-length bytes, never in HDF5's global heap.
        """
        attrs = self._file.attrs
        if note is None:
            if APPEND_ATTR in attrs:
                del attrs[APPEND_ATTR]
        else:
            attrs[APPEND_ATTR] = np.bytes_(note.encode())
        self._file.flush()

    def finished_append(self, name: str) -> str | None:
        """Return the record of the finished append ``name``; ``None`` if none."""
        group = self._file.get(APPENDED_GROUP)
        record = None if group is None else group.attrs.get(name)
        return None if record is None else bytes(record).decode()

    def finish_append(self, name: str, record: str) -> None:
        """Store the record of a finished append, then remove its note, on disk now.

        ``asegen convert --append`` records every source it appended (in the
        attributes of group ``appended``, one per source), so that the same
        command run again after the append finished skips it. The record is
        flushed before the note goes: a process killed in between leaves a
        note that the record shows finished.
        """
        group = self._file.require_group(APPENDED_GROUP)
        group.attrs[name] = np.bytes_(record.encode())
        self._file.flush()
        self.note_append(None)

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
            fletcher32=np.dtype(dtype).kind != "O",  # HDF5 checks no string rows
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
                present = self._create_dataset(
                    group, "present", np.bool_, (), "structure", self._committed
                )
                value = self._create_value(group, spec, self._length(spec))
                for dataset in (present, value):  # rows of the structures before
                    _store_zeros(dataset, 0, dataset.shape[0])
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
        self._truncate(int(self._file.attrs[COUNT_ATTR]))
        self._fill_late_columns()

    def _fill_late_columns(self) -> None:
        """Store the never-written chunks of columns that first appeared late.

        Writers before this check created a column that first appears after
        earlier structures without writing its rows for them, so the chunks
        holding only such rows were never stored and the memory-mapped reader
        calls them damaged. They are written now as zeros (what HDF5 reads
        there anyway), with their checksums, and a warning names them; a hole
        under rows of a structure that carries the column is real damage.
        """
        file, count = self._file, self._committed
        n_atoms = file["structures/n_atoms"][:count]
        filled = False
        for spec in read_schema(file).values():
            group = file[spec.path]
            present = group["present"][:count]
            needed = np.repeat(present, n_atoms) if spec.per_atom else present
            for dataset, rows in ((group["present"], None), (group["value"], needed)):
                holes = _unwritten_chunks(dataset)
                if not holes:
                    continue
                if rows is not None and any(rows[a:b].any() for a, b in holes):
                    raise damaged(
                        self.path,
                        ValueError(f"rows of {dataset.name} were never written"),
                    )
                for start, stop in holes:
                    _store_zeros(dataset, start, stop)
                filled = True
                warnings.warn(
                    f"{self.path}: stored {sum(b - a for a, b in holes)} "
                    f"never-written rows of {dataset.name}, a column that first "
                    "appeared after them; no structure changed",
                    UserWarning,
                    stacklevel=4,
                )
        if filled:
            file.flush()

    def _truncate(self, count: int) -> None:
        """Cut every dataset back to ``count`` structures; drop emptied columns."""
        file = self._file
        for group_name in COLUMN_GROUPS:  # a column whose creation was cut short
            for group in list(file[group_name].values()):
                if not {"value", "present"} <= set(group):
                    del file[group.name]
        counts = file["structures/n_atoms"]
        if counts.shape[0] < count:
            raise damaged(self.path, ValueError(f"fewer than {count} structures"))
        # the atom counts are read first: mend their last chunk before reading
        changed = bool(
            count
            and counts.fletcher32
            and count % counts.chunks[0]
            and self._mend_checksum(counts, count)
        )
        n_atoms = counts[:count]
        n_rows = {"structure": count, "atom": int(n_atoms.sum())}
        for dataset in _datasets(file):
            length = n_rows[dataset.attrs["per"]]
            if dataset.shape[0] < length:
                raise damaged(self.path, ValueError(f"{dataset.name} is too short"))
            if dataset.fletcher32 and length % dataset.chunks[0]:
                changed |= self._mend_checksum(dataset, length)
            if dataset.dtype.kind == "O":
                changed |= _clear_beyond(dataset, length)
            elif dataset.shape[0] > length:
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

    def _mend_checksum(self, dataset: h5py.Dataset, length: int) -> bool:
        """Recompute the checksum of the chunk holding row ``length - 1`` if torn.

        That chunk is the only one a flush rewrites in place. A process killed
        during that write (the kernel stops a write between memory pages) can
        leave its committed rows intact, as both versions agree on them, but
        pages of the new rows out of step with the Fletcher-32 checksum stored
        at its end. The chunk is rewritten whole, committed rows kept and later
        rows zeroed, so HDF5 computes a fresh checksum; a warning names it.

        Returns
        -------
        bool
            Whether the chunk was rewritten.
        """
        rows = dataset.chunks[0]
        first = (length - 1) // rows * rows
        try:
            dataset[first:length]
        except OSError:
            pass
        else:
            return False
        if dataset.compression is not None:
            raise damaged(self.path, ValueError(f"checksum mismatch in {dataset.name}"))
        coord = (first,) + (0,) * (dataset.ndim - 1)
        _, raw = dataset.id.read_direct_chunk(coord)
        block = np.frombuffer(raw[:-4], dtype=dataset.dtype).reshape(dataset.chunks)
        block = block.copy()
        block[length - first :] = 0
        dataset.resize(max(dataset.shape[0], first + rows), axis=0)
        dataset[first : first + rows] = block
        warnings.warn(
            f"{self.path}: rewrote the checksum of {dataset.name} rows {first} to "
            f"{length - 1}, torn by an interrupted write; check these structures "
            "if no writer was killed while appending",
            UserWarning,
            stacklevel=4,
        )
        return True


def _clear_beyond(dataset: h5py.Dataset, length: int) -> bool:
    """Cut a string dataset to ``length`` rows, clearing every stored row past it.

    A string row holds the address of its text in HDF5's global heap, and HDF5
    frees the text a row addresses when the row is overwritten. A process killed
    during a flush can leave addresses of texts that never reached the disk in
    rows past the dataset's extent, where a plain resize does not look; the next
    write over them then fails ("bad heap index") or frees a text just stored.
    Growing the extent over every stored chunk and shrinking it back makes HDF5
    fill those rows with empty addresses and drop the chunks past the end.

    Returns
    -------
    bool
        Whether the dataset was resized.
    """
    rows = dataset.chunks[0]
    end = -(-max(dataset.shape[0], 1) // rows) * rows
    if hasattr(dataset.id, "chunk_iter"):

        def visit(info: Any) -> None:
            nonlocal end
            end = max(end, info.chunk_offset[0] + rows)

        dataset.id.chunk_iter(visit)
    if end == length:
        return False
    dataset.resize(end, axis=0)
    dataset.resize(length, axis=0)
    return True


def _store_zeros(dataset: h5py.Dataset, start: int, stop: int) -> None:
    """Write zeros to rows ``start:stop`` of a numeric dataset, in blocks.

    Every chunk holding them is then stored, with its checksum. String datasets
    are skipped: HDF5 reads empty strings from chunks never written, and they
    are read through h5py, never from a memory map.
    """
    if dataset.dtype.kind == "O":
        return
    for first in range(start, stop, _COPY_ROWS):
        last = min(first + _COPY_ROWS, stop)
        dataset[first:last] = np.zeros(
            (last - first, *dataset.shape[1:]), dataset.dtype
        )


def _unwritten_chunks(dataset: h5py.Dataset) -> list[tuple[int, int]]:
    """Return the row spans ``(start, stop)`` of chunks never stored.

    Empty for string datasets and where h5py cannot list chunks (HDF5 before
    1.12.3): readers read those through h5py, which returns zeros there.
    """
    if dataset.dtype.kind == "O" or not hasattr(dataset.id, "chunk_iter"):
        return []
    rows, length = dataset.chunks[0], dataset.shape[0]
    stored = np.zeros(-(-length // rows), dtype=bool)

    def visit(info: Any) -> None:
        stored[info.chunk_offset[0] // rows] = True

    dataset.id.chunk_iter(visit)
    return [(k * rows, min((k + 1) * rows, length)) for k in np.flatnonzero(~stored)]


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
