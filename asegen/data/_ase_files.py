"""Read the structures of one file with ``ase.io``, with one-line errors.

ASE databases have their ``key_value_pairs`` and ``data`` merged into ``info``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from ase import Atoms

from asegen.data._layout import brief, permission_denied
from asegen.errors import DataFormatError

__all__ = ["ase_format", "no_structures", "read_file"]

_FORMAT_FIX = "name its ase.io format (--input-format)"


def no_structures(path: Path, why: str) -> DataFormatError:
    """Return the error for a source without structures; ``why`` says what it is."""
    return DataFormatError(
        f"{path} holds no structures ({why}); give a file or folder with at least "
        "one structure"
    )


def ase_format(path: Path, format: str | None) -> str:
    """Return the ``ase.io`` format to read ``path`` with: ``format``, or guessed.

    Raises
    ------
    DataFormatError
        If the format cannot be guessed or ``ase.io`` cannot read it.
    """
    from ase.io.formats import UnknownFileTypeError, filetype, ioformats

    try:
        fmt = format or filetype(str(path), read=True)
    except (UnknownFileTypeError, OSError) as err:
        raise DataFormatError(
            f"cannot tell the format of {path} ({brief(err)}); give it a known "
            f"extension (e.g. .extxyz) or {_FORMAT_FIX}"
        ) from None
    if fmt not in ioformats or not ioformats[fmt].can_read:
        raise DataFormatError(
            f"ase.io cannot read {path} as {fmt!r}; name a format ase.io reads "
            "(--input-format), e.g. extxyz"
        )
    return fmt


def read_file(path: Path, format: str | None) -> Iterator[Atoms]:
    """Stream the structures of ``path`` (``format``: ``ase.io``'s, or guessed).

    The format is told at once; the file is read as the iterator is consumed.

    Raises
    ------
    DataFormatError
        If the file is empty, its format cannot be told, a structure cannot be
        read (the message names the file and the structure's index in it), or
        it holds no structures.
    """
    try:
        with path.open("rb"):
            pass
    except PermissionError as err:
        raise permission_denied(path, err) from None
    if path.stat().st_size == 0:
        raise no_structures(path, "the file is empty")
    fmt = ase_format(path, format)
    if fmt == "db":
        return _checked(path, fmt, _db_rows(path))
    import ase.io

    return _checked(path, fmt, ase.io.iread(path, index=":", format=fmt))


def _checked(path: Path, fmt: str, images: Iterable[Atoms]) -> Iterator[Atoms]:
    count = 0
    try:
        for atoms in images:
            yield atoms
            count += 1
    except Exception as err:  # ase.io raises many types for malformed input
        raise DataFormatError(
            f"cannot read structure {count} of {path} as {fmt} ({brief(err)}); "
            f"fix the file or {_FORMAT_FIX}"
        ) from None
    if not count:
        raise no_structures(path, f"read as {fmt}")


def _db_rows(path: Path) -> Iterator[Atoms]:
    import ase.db

    for row in ase.db.connect(path, type="db").select():
        atoms = row.toatoms()
        atoms.info.update(row.key_value_pairs)
        atoms.info.update(row.data)
        yield atoms
