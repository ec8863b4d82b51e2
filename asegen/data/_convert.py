"""Convert structures between asegen HDF5 and ASE formats, streaming."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import sys
import warnings
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path

from ase import Atoms

from asegen.data._layout import HDF5_SUFFIXES, brief, permission_denied, replacing
from asegen.data._reader import H5Dataset
from asegen.data._sources import iter_structures
from asegen.data._writer import H5Writer, write
from asegen.errors import (
    AsegenError,
    ConfigError,
    DataFormatError,
    OutputExistsError,
    StructureError,
)

__all__ = ["convert"]

_BLOCK = 4096  # structures read at once when skipping into an HDF5 source
_DB_ARRAYS = {  # per-atom arrays an ASE database stores
    "numbers",
    "positions",
    "initial_magmoms",
    "initial_charges",
    "masses",
    "tags",
    "momenta",
}


class _Counted:
    """Iterate ``images`` with an optional tqdm bar on stderr, counting them."""

    def __init__(self, images: Iterable[Atoms], *, progress: bool) -> None:
        self._images = images
        self._progress = progress
        self.count = 0

    def __iter__(self) -> Iterator[Atoms]:
        from tqdm import tqdm

        total = len(self._images) if isinstance(self._images, Sized) else None
        bar = tqdm(
            self._images,
            total=total,
            unit=" structures",
            file=sys.stderr,
            disable=None if self._progress else True,  # None: off when not a TTY
        )
        with bar:
            for atoms in bar:
                self.count += 1
                yield atoms


def convert(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    append: bool = False,
    overwrite: bool = False,
    compression: str | None = None,
    progress: bool = False,
) -> int:
    """Convert structures between asegen HDF5 and any ASE format, streaming.

    The output kind follows ``target``: a name ending in ``.h5`` or ``.hdf5`` is
    asegen HDF5; a folder (existing, or a name ending in ``/``) gets one file per
    structure named ``000000.<ext>`` in ``output_format`` (default ``vasp``);
    any other name is one ``ase.io`` file, with ``.db`` written as an ASE
    database whose ``key_value_pairs`` hold the ``info`` entries ASE accepts
    there and whose ``data`` holds the rest. A single output file is written
    under a temporary name and renamed when complete; a failed run leaves no
    output (a folder it created is removed).

    An append to an existing HDF5 ``target`` is all or nothing when it fails
    with an error, and resumable when the process is killed: the file notes the
    source and the count the append started from, and the same command run
    again skips the source structures already appended and finishes it. A
    finished append stays recorded in the file, so the same command run once
    more (the source unchanged: path, size, modification time) appends
    nothing, with a warning.

    Parameters
    ----------
    source
        Anything :func:`~asegen.data.iter_structures` reads.
    target
        The output file or folder.
    input_format, output_format
        ``ase.io`` format names; guessed from the names when ``None``.
    append
        Add to an existing HDF5 ``target``; continue an interrupted append of
        the same ``source``; skip a ``source`` appended to it before.
    overwrite
        Replace an existing ``target`` (in a folder: files of the same names).
    compression
        ``None``, ``"gzip"`` or ``"lzf"``, for HDF5 outputs.
    progress
        Show a progress bar on stderr (when it is a terminal).

    Returns
    -------
    int
        The number of structures written.

    Raises
    ------
    InputNotFoundError, DataFormatError, StructureError
        For a missing, empty or unreadable source or an invalid structure.
    ConfigError
        For an existing target without ``overwrite``/``append`` or options that
        do not apply to the target.
    DataFormatError
        Also when ``target`` holds an unfinished append of another source, or
        a path may not be read or written.
    """
    destination = Path(target)
    to_folder = os.fspath(target).endswith(("/", os.sep)) or destination.is_dir()
    to_hdf5 = not to_folder and destination.suffix.lower() in HDF5_SUFFIXES
    if not to_hdf5 and (append or compression is not None):
        option = "--append" if append else "--compression"
        raise ConfigError(f"{option} applies to HDF5 outputs (.h5), not {destination}")
    if to_hdf5 and output_format is not None:
        raise ConfigError(
            f"--format applies to ASE outputs; {destination} is written as asegen "
            "HDF5 because of its suffix"
        )
    fmt = None if to_hdf5 else _output_format(destination, output_format, to_folder)
    structures = iter_structures(source, format=input_format)
    _check_target(Path(source), destination, to_hdf5, append, overwrite)
    try:
        if fmt is None and append and destination.exists():
            return _append(
                Path(source),
                destination,
                structures,
                compression=compression,
                progress=progress,
            )
        images = _Counted(structures, progress=progress)
        if fmt is None:
            write(destination, images, compression=compression)
        else:
            _write_ase(destination, images, fmt, to_folder=to_folder)
    except StructureError as err:  # the writer counts structures; name the source
        raise StructureError(f"{source}: {err}") from None
    return images.count


def _append(
    source: Path,
    target: Path,
    structures: Iterable[Atoms],
    *,
    compression: str | None,
    progress: bool,
) -> int:
    """Append ``structures`` to ``target``, resuming an interrupted append of them.

    Skipped when ``target`` records a finished append of the same source.
    """
    key = _source_key(source)
    name = _digest(key)
    with H5Writer(target, append=True, compression=compression) as writer:
        note = writer.unfinished_append
        noted = None if note is None else json.loads(note)
        if noted is not None and noted["source"] != key:
            raise DataFormatError(
                f"{target} holds an unfinished append of "
                f"{noted['source']['path']} (as it was then); finish it first "
                f"with `asegen convert {noted['source']['path']} {target} "
                "--append`, unchanged"
            )
        finished = writer.finished_append(name)
        if finished is not None:
            if noted is not None:  # killed after recording, before removing the note
                writer.note_append(None)
            done = json.loads(finished)
            warnings.warn(
                f"{source} was appended to {target} already (its structures "
                f"{done['start']} to {done['stop'] - 1}); nothing appended. To "
                "add its structures again, append a copy under another name",
                UserWarning,
                stacklevel=3,
            )
            return 0
        if noted is None:
            start = len(writer)
            writer.note_append(json.dumps({"source": key, "start": start}))
        else:
            start = noted["start"]
            warnings.warn(
                f"continuing the interrupted append of {source} to {target}: its "
                f"first {len(writer) - start} structures are there already",
                UserWarning,
                stacklevel=3,
            )
        images = _Counted(_skip(structures, len(writer) - start), progress=progress)
        try:
            writer.extend(images)
            writer.flush()
        except BaseException:
            writer._truncate(start)
            writer.note_append(None)
            raise
        record = {"source": key, "start": start, "stop": len(writer)}
        writer.finish_append(name, json.dumps(record))
    return images.count


def _source_key(source: Path) -> dict[str, object]:
    """Return what identifies a source between runs.

    Its path and a file's size and modification time; for a folder, a digest
    of the names, sizes and times of its files, so that a folder with a file
    added, removed or changed is another source.
    """
    status = source.stat()
    key: dict[str, object] = {"path": str(source.resolve())}
    if source.is_file():
        key.update(size=status.st_size, mtime_ns=status.st_mtime_ns)
    else:
        files = sorted(
            (item.name, item.stat().st_size, item.stat().st_mtime_ns)
            for item in source.iterdir()
            if item.is_file()
        )
        key["files"] = _digest(files)
    return key


def _digest(value: object) -> str:
    """Return a short hex digest of ``value``'s JSON."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:32]


def _skip(structures: Iterable[Atoms], count: int) -> Iterable[Atoms]:
    """``structures`` without the first ``count``; an HDF5 source skips unread."""
    if not count:
        return structures
    if isinstance(structures, H5Dataset):
        return itertools.chain.from_iterable(
            structures[first : first + _BLOCK]
            for first in range(count, len(structures), _BLOCK)
        )
    return itertools.islice(structures, count, None)


def _write_ase(target: Path, images: _Counted, fmt: str, *, to_folder: bool) -> None:
    created = to_folder and not target.exists()
    try:
        if to_folder:
            _write_folder(target, images, fmt)
        else:
            with replacing(target) as partial:
                _write_file(partial, images, fmt)
    except BaseException as err:
        if created:  # every file in it is this run's
            shutil.rmtree(target, ignore_errors=True)
        if isinstance(err, PermissionError):
            raise permission_denied(target, err) from None
        if isinstance(err, AsegenError) or not isinstance(err, Exception):
            raise
        raise DataFormatError(  # ase.io writers raise many types for what they reject
            f"ase.io cannot write structure {max(images.count - 1, 0)} to "
            f"{target} as {fmt} ({brief(err)}); choose another --format"
        ) from None


def _output_format(target: Path, given: str | None, to_folder: bool) -> str:
    from ase.io.formats import UnknownFileTypeError, filetype, ioformats

    if given is None and not to_folder:
        try:
            given = filetype(str(target), read=False)
        except UnknownFileTypeError:
            raise ConfigError(
                f"cannot tell the output format from the name {target.name}; pass "
                "--format with an ase.io format name, or end OUT with / for a folder"
            ) from None
    fmt = given or "vasp"
    if fmt not in ioformats or not ioformats[fmt].can_write:
        raise ConfigError(
            f"ase.io cannot write the format {fmt!r} of {target.name}; pass --format "
            "with a format from `ase info --formats` that ASE can write"
        )
    return fmt


def _check_target(
    source: Path, target: Path, to_hdf5: bool, append: bool, overwrite: bool
) -> None:
    if append and overwrite:
        raise ConfigError("--append and --overwrite exclude each other; pick one")
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return
    if target.resolve() == source.resolve():
        raise ConfigError(f"{target} is both input and output; choose another output")
    if not (append or overwrite):
        raise OutputExistsError(
            f"{target} already exists; pass --overwrite to replace it"
            + (" or --append to add to it" if to_hdf5 else "")
        )


def _write_folder(folder: Path, images: Iterable[Atoms], fmt: str) -> None:
    import ase.io
    from ase.io.formats import ioformats

    extension = (ioformats[fmt].extensions or [fmt])[0]
    folder.mkdir(parents=True, exist_ok=True)
    for index, atoms in enumerate(images):
        ase.io.write(folder / f"{index:06d}.{extension}", atoms, format=fmt)


def _write_file(path: Path, images: Iterable[Atoms], fmt: str) -> None:
    import ase.io
    from ase.io.formats import ioformats

    if fmt == "db":
        _write_db(path, images)
    elif ioformats[fmt].single:
        iterator = iter(images)
        first = next(iterator, None)
        if first is None or next(iterator, None) is not None:
            raise ConfigError(
                f"{fmt} files hold exactly one structure; give a folder OUT/ to "
                "write one file per structure"
            )
        ase.io.write(path, first, format=fmt)
    else:
        ase.io.write(path, images, format=fmt)  # multi-image writers iterate lazily


def _write_db(path: Path, images: Iterable[Atoms]) -> None:
    import ase.db
    from ase.db.core import check

    with ase.db.connect(path, type="db", append=False) as database:
        for atoms in images:
            key_value_pairs, data = {}, {}
            for key, value in atoms.info.items():
                try:
                    check({key: value})
                except ValueError:
                    data[key] = value
                else:
                    key_value_pairs[key] = value
            dropped = sorted(set(atoms.arrays) - _DB_ARRAYS)
            if dropped:
                warnings.warn(
                    f"ASE databases cannot store the per-atom arrays {dropped}; "
                    "they are dropped",
                    UserWarning,
                    stacklevel=2,
                )
            database.write(atoms, key_value_pairs=key_value_pairs, data=data)
