"""Stream structures from any source and convert between HDF5 and ASE formats.

Sources are asegen HDF5 files, any file ``ase.io`` reads (ASE databases with
their ``key_value_pairs`` and ``data`` merged into ``info``), and folders, whose
files are read in natural sort order (``2.vasp`` before ``10.vasp``).
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import warnings
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path

import h5py
from ase import Atoms

from asegen.data._layout import brief, replacing
from asegen.data._reader import H5Dataset
from asegen.data._writer import write
from asegen.errors import (
    AsegenError,
    ConfigError,
    DataFormatError,
    InputNotFoundError,
    OutputExistsError,
)

__all__ = ["convert", "iter_structures"]

_HDF5_SUFFIXES = (".h5", ".hdf5")
_DB_ARRAYS = {  # per-atom arrays an ASE database stores
    "numbers",
    "positions",
    "initial_magmoms",
    "initial_charges",
    "masses",
    "tags",
    "momenta",
}


def iter_structures(
    path: str | os.PathLike[str], *, format: str | None = None
) -> Iterable[Atoms]:
    """Return the structures of an HDF5 file, an ASE-readable file or a folder.

    Files are streamed; nothing is read before iteration except what is needed
    to recognise the source.

    Parameters
    ----------
    path
        An asegen HDF5 file, a file ``ase.io`` reads, or a folder of such files
        (hidden files skipped, natural sort order).
    format
        ``ase.io`` format of the file(s); guessed when ``None``.

    Raises
    ------
    InputNotFoundError
        If ``path`` does not exist.
    DataFormatError
        If the format cannot be told or a structure cannot be read.
    """
    source = Path(path)
    if not source.exists():
        raise InputNotFoundError(f"{source} does not exist; check the path")
    if source.is_dir():
        files = sorted(
            (item for item in source.iterdir() if item.is_file()),
            key=lambda item: _natural_key(item.name),
        )
        files = [item for item in files if not item.name.startswith(".")]
        if not files:
            raise DataFormatError(
                f"folder {source} holds no files; give a folder of structure files"
            )
        return itertools.chain.from_iterable(_read_file(item, format) for item in files)
    if h5py.is_hdf5(source):
        return H5Dataset(source)
    return _read_file(source, format)


def _natural_key(name: str) -> list[str | int]:
    return [
        int(part) if part.isdigit() else part.lower()
        for part in re.split(r"(\d+)", name)
    ]


def _read_file(path: Path, format: str | None) -> Iterator[Atoms]:
    from ase.io.formats import UnknownFileTypeError, filetype, ioformats

    try:
        fmt = format or filetype(str(path), read=True)
    except (UnknownFileTypeError, OSError) as err:
        raise DataFormatError(
            f"cannot tell the format of {path} ({brief(err)}); pass --input-format "
            "with an ase.io format name, e.g. extxyz"
        ) from None
    if fmt not in ioformats or not ioformats[fmt].can_read:
        raise DataFormatError(
            f"ase.io cannot read {path} as {fmt!r}; pass --input-format with a "
            "format ase.io reads, e.g. extxyz"
        )
    return _read_db(path) if fmt == "db" else _read_ase(path, fmt)


def _read_ase(path: Path, fmt: str) -> Iterator[Atoms]:
    import ase.io

    count = 0
    try:
        for atoms in ase.io.iread(path, index=":", format=fmt):
            yield atoms
            count += 1
    except AsegenError:
        raise
    except Exception as err:  # ase.io raises many types for malformed input
        raise DataFormatError(
            f"cannot read structure {count} of {path} as {fmt} ({brief(err)}); "
            "fix the file or pass the right --input-format"
        ) from None


def _read_db(path: Path) -> Iterator[Atoms]:
    import ase.db

    for row in ase.db.connect(path, type="db").select():
        atoms = row.toatoms()
        atoms.info.update(row.key_value_pairs)
        atoms.info.update(row.data)
        yield atoms


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
    under a temporary name and renamed when complete.

    Parameters
    ----------
    source
        Anything :func:`iter_structures` reads.
    target
        The output file or folder.
    input_format, output_format
        ``ase.io`` format names; guessed from the names when ``None``.
    append
        Add to an existing HDF5 ``target``.
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
        For a missing or unreadable source or an invalid structure.
    ConfigError
        For an existing target without ``overwrite``/``append`` or options that
        do not apply to the target.
    """
    destination = Path(target)
    to_folder = os.fspath(target).endswith(("/", os.sep)) or destination.is_dir()
    to_hdf5 = not to_folder and destination.suffix.lower() in _HDF5_SUFFIXES
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
    images = _Counted(structures, progress=progress)
    if fmt is None:
        write(destination, images, append=append, compression=compression)
    else:
        _write_ase(destination, images, fmt, to_folder=to_folder)
    return images.count


def _write_ase(target: Path, images: _Counted, fmt: str, *, to_folder: bool) -> None:
    try:
        if to_folder:
            _write_folder(target, images, fmt)
        else:
            with replacing(target) as partial:
                _write_file(partial, images, fmt)
    except AsegenError:
        raise
    except Exception as err:  # ase.io writers raise many types for what they reject
        raise DataFormatError(
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
            f"ase.io cannot write the format {fmt!r}; pass --format with a format "
            "from `ase info --formats` that ASE can write"
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
