"""Read structures from a file or folder: the one reader of every command.

:func:`iter_structures` states the rule of what a path holds; ``docs/data-format.md``
states it for users.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ase import Atoms

from asegen.data._alignn import alignn_index, read_alignn_folder
from asegen.data._ase_files import no_structures, read_file
from asegen.data._layout import HDF5_SUFFIXES, is_hdf5, not_found, permission_denied

if TYPE_CHECKING:
    from asegen.data._reader import H5Dataset

__all__ = ["iter_structures", "read_structures"]


def iter_structures(
    path: str | os.PathLike[str], *, format: str | None = None
) -> H5Dataset | list[Atoms] | Iterator[Atoms]:
    """Return the structures of an HDF5 file, any ``ase.io`` file or a folder.

    ``path`` is read as

    - an asegen HDF5 file if it is one, or, without ``format``, if its name
      ends in ``.h5`` or ``.hdf5``: lazily, as an :class:`H5Dataset`;
    - an alignn training folder if it is a folder holding alignn's
      ``id_prop.json`` or ``id_prop.csv``: the structures it lists, with their
      labels, read at once;
    - any other folder: the structures of each of its files in natural sort
      order (``2.vasp`` before ``10.vasp``), hidden files and subfolders
      skipped, each file read as below;
    - any other file: all its structures, with ``ase.io`` (ASE databases
      with their ``key_value_pairs`` and ``data`` merged into ``info``),
      streamed: nothing is read before iteration but what tells the format.

    Parameters
    ----------
    path
        An asegen HDF5 file, a file ``ase.io`` reads, an alignn training
        folder, or a folder of structure files.
    format
        ``ase.io`` format of the file, or of every file of a plain folder;
        guessed per file when ``None``. Not used for HDF5 files and alignn
        training folders.

    Returns
    -------
    H5Dataset or list of Atoms or iterator of Atoms
        The lazy dataset of an HDF5 file, the list of an alignn training
        folder, or an iterator over the structures of files ``ase.io`` reads.

    Raises
    ------
    InputNotFoundError
        If ``path`` does not exist, or an alignn ``id_prop.csv`` names a file
        that does not.
    DataFormatError
        If a file or folder may not be read, a file's format cannot be told,
        a structure cannot be read (the message names the file and the
        structure's index in it), or a file or folder holds no structures
        (raised when the iterator reaches its end).
    """
    source = Path(path)
    if not source.exists():
        raise not_found(source)
    if source.is_dir():
        try:
            return _read_folder(source, format)
        except PermissionError as err:
            raise permission_denied(source, err) from None
    if is_hdf5(source) or (format is None and source.suffix.lower() in HDF5_SUFFIXES):
        from asegen.data._reader import H5Dataset  # h5py only for HDF5 sources

        dataset = H5Dataset(source)
        if not len(dataset):
            raise no_structures(source, "an asegen HDF5 file with none written")
        return dataset
    return read_file(source, format)


def read_structures(
    path: str | os.PathLike[str], *, format: str | None = None
) -> H5Dataset | list[Atoms]:
    """Return the structures of a source with a length and random access.

    Reads what :func:`iter_structures` reads, with the same errors, raised
    here: an asegen HDF5 file stays lazy (an :class:`H5Dataset`, safe in
    DataLoader workers); every other source is read into a list.

    Parameters
    ----------
    path
        An asegen HDF5 file, a file ``ase.io`` reads, an alignn training
        folder, or a folder of structure files.
    format
        ``ase.io`` format of the file, or of every file of a plain folder;
        guessed per file when ``None``.

    Returns
    -------
    H5Dataset or list of Atoms
        At least one structure.

    Raises
    ------
    InputNotFoundError, DataFormatError
        As :func:`iter_structures`.
    """
    images = iter_structures(path, format=format)
    return list(images) if isinstance(images, Iterator) else images


def _read_folder(folder: Path, format: str | None) -> list[Atoms] | Iterator[Atoms]:
    index = alignn_index(folder)
    if index is not None:
        images = read_alignn_folder(folder)
        if not images:
            raise no_structures(index, "it lists none")
        return images
    files = sorted(
        (
            item
            for item in folder.iterdir()
            if item.is_file() and not item.name.startswith(".")
        ),
        key=lambda item: _natural_key(item.name),
    )
    if not files:
        raise no_structures(
            folder, "a folder with no files and no alignn id_prop.json or id_prop.csv"
        )
    return itertools.chain.from_iterable(read_file(item, format) for item in files)


def _natural_key(name: str) -> list[str | int]:
    return [
        int(part) if part.isdigit() else part.lower()
        for part in re.split(r"(\d+)", name)
    ]
