"""The asegen HDF5 layout in code: names, dtypes, column rules and file checks.

``docs/data-format.md`` describes the layout for users; this module is its single
source of truth in code. A file holds the core datasets of :data:`CORE_DATASETS`
and optional *columns* (calculator results, per-atom arrays, ``info`` entries,
fixed-atom masks), each an HDF5 group ``<group>/<escaped name>`` with a ``value``
dataset and a per-structure ``present`` mask.

h5py is imported where a file is opened, so reading other formats (and
:func:`is_hdf5`, which tells them apart) never loads it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from asegen._units import UNITS
from asegen.errors import DataFormatError, InputNotFoundError

if TYPE_CHECKING:
    import h5py

__all__ = [
    "APPENDED_GROUP",
    "APPEND_ATTR",
    "COLUMN_GROUPS",
    "CORE_DATASETS",
    "COUNT_ATTR",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HDF5_SUFFIXES",
    "UNITS",
    "ColumnSpec",
    "brief",
    "damaged",
    "decode_json",
    "encode_json",
    "escape_key",
    "is_hdf5",
    "is_permission_error",
    "not_found",
    "open_file",
    "open_hdf5",
    "permission_denied",
    "read_schema",
    "remove_stale_partials",
    "replacing",
    "unescape_key",
]

FORMAT_NAME = "asegen-structures"
FORMAT_VERSION = 1
COUNT_ATTR = "n_structures"  # committed structure count, written last on every flush
APPEND_ATTR = "unfinished_append"  # JSON (fixed-length bytes) of a running convert
APPENDED_GROUP = "appended"  # its attributes: one record per finished convert --append
HDF5_SUFFIXES = (".h5", ".hdf5")  # file names that mean asegen HDF5

#: path -> (rows counted "per" structure or atom, dtype, shape of one row, unit)
CORE_DATASETS: dict[str, tuple[str, type, tuple[int, ...], str | None]] = {
    "structures/n_atoms": ("structure", np.int64, (), None),
    "structures/offset": ("structure", np.int64, (), None),
    "structures/cell": ("structure", np.float64, (3, 3), "Å"),
    "structures/pbc": ("structure", np.bool_, (3,), None),
    "atoms/numbers": ("atom", np.uint8, (), None),
    "atoms/positions": ("atom", np.float64, (3,), "Å"),
}
COLUMN_GROUPS = ("results", "arrays", "info", "constraints")
_RESULT_UNITS = {
    "energy": UNITS["energy"],
    "free_energy": UNITS["energy"],
    "energies": UNITS["energy"],
    "forces": UNITS["forces"],
    "stress": UNITS["stress"],
    "stresses": UNITS["stress"],
}
_KIND_DTYPES: dict[str, Any] = {  # text kinds: h5py's variable-length strings
    "bool": np.bool_,
    "int": np.int64,
    "float": np.float64,
    "complex": np.complex128,
}
_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # HDF5's format signature
_ESCAPED = re.compile(r"[%/\x00]")
_ESCAPE = re.compile(r"%([0-9A-F]{2})")


def escape_key(name: str) -> str:
    """Return ``name`` as a safe HDF5 link name (``%``, ``/``, NUL and ``.``).

    Parameters
    ----------
    name
        An ``info`` key, array name or calculator result name.

    Returns
    -------
    str
        ``name`` with ``%``, ``/`` and NUL written as ``%XX``; a bare ``"."``
        becomes ``"%2E"``.
    """
    escaped = _ESCAPED.sub(lambda match: f"%{ord(match[0]):02X}", name)
    return "%2E" if escaped == "." else escaped


def unescape_key(name: str) -> str:
    """Invert :func:`escape_key`."""
    return _ESCAPE.sub(lambda match: chr(int(match[1], 16)), name)


@dataclass(frozen=True)
class ColumnSpec:
    """What one optional column stores.

    Attributes
    ----------
    group
        ``"results"``, ``"arrays"``, ``"info"`` or ``"constraints"``.
    name
        The key as ASE spells it (unescaped).
    kind
        ``"bool"``, ``"int"``, ``"float"``, ``"complex"``, ``"str"`` or ``"json"``.
    shape
        Shape of one row: of one atom for per-atom columns, else of one structure.
    per_atom
        Whether rows are atoms (aligned with ``atoms/numbers``) or structures.
    """

    group: str
    name: str
    kind: str
    shape: tuple[int, ...]
    per_atom: bool

    @property
    def path(self) -> str:
        """HDF5 path of the column's group."""
        return f"{self.group}/{escape_key(self.name)}"

    @property
    def dtype(self) -> Any:
        """Dtype of the ``value`` dataset."""
        if self.kind in ("str", "json"):
            import h5py

            return h5py.string_dtype()
        return _KIND_DTYPES[self.kind]

    @property
    def unit(self) -> str | None:
        """Unit of a known calculator result, else ``None``."""
        return _RESULT_UNITS.get(self.name) if self.group == "results" else None

    @property
    def label(self) -> str:
        """How error messages name the column."""
        what = {
            "results": "calculator result",
            "arrays": "per-atom array",
            "info": "info key",
            "constraints": "constraint",
        }[self.group]
        return f"{what} {self.name!r}"

    def describe(self) -> str:
        """Return kind, shape and row type in words, e.g. ``float (3,) per atom``."""
        shape = f" {self.shape}" if self.shape else ""
        return f"{self.kind}{shape} per {'atom' if self.per_atom else 'structure'}"

    def merged(self, other: ColumnSpec, *, where: str) -> ColumnSpec:
        """Return the spec that holds the values of both ``self`` and ``other``.

        ``int`` and ``float`` merge to ``float``; ``json`` absorbs every other
        kind; any other difference of kind, shape or row type is a conflict.

        Raises
        ------
        DataFormatError
            If the two cannot share one column.
        """
        kind = _merge_kinds(self.kind, other.kind)
        if kind is None or (self.shape, self.per_atom) != (other.shape, other.per_atom):
            raise DataFormatError(
                f"{self.label} is {self.describe()} in earlier structures but "
                f"{other.describe()} in {where}; give it one type and shape in "
                "every structure before writing"
            )
        return self if kind == self.kind else replace(self, kind=kind)


def _merge_kinds(first: str, second: str) -> str | None:
    if first == second:
        return first
    if {first, second} == {"int", "float"}:
        return "float"
    if "json" in (first, second):
        return "json"
    return None


def read_schema(file: h5py.File) -> dict[tuple[str, str], ColumnSpec]:
    """Return the spec of every optional column in ``file``, keyed by (group, name)."""
    schema = {}
    for group_name in COLUMN_GROUPS:
        for key, group in file[group_name].items():
            value = group["value"]
            spec = ColumnSpec(
                group=group_name,
                name=unescape_key(key),
                kind=str(value.attrs["kind"]),
                shape=value.shape[1:],
                per_atom=value.attrs["per"] == "atom",
            )
            schema[group_name, spec.name] = spec
    return schema


def encode_json(value: Any) -> str:
    """Encode an ``info`` value as JSON text; NumPy arrays and complex numbers too.

    Raises
    ------
    TypeError
        If ``value`` holds an object JSON cannot represent.
    """
    return json.dumps(value, default=_json_default)


def decode_json(text: str) -> Any:
    """Invert :func:`encode_json`."""
    return json.loads(text, object_hook=_json_object_hook)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufcU":
        return {"__ndarray__": [list(obj.shape), obj.dtype.str, obj.ravel().tolist()]}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, complex):
        return {"__complex__": [obj.real, obj.imag]}
    raise TypeError(f"a {type(obj).__name__} cannot be stored as JSON")


def _json_object_hook(obj: dict[str, Any]) -> Any:
    if obj.keys() == {"__ndarray__"}:
        shape, dtype, flat = obj["__ndarray__"]
        return np.array(flat, dtype=dtype).reshape(shape)
    if obj.keys() == {"__complex__"}:
        return complex(*obj["__complex__"])
    return obj


def open_file(path: Path, mode: str) -> h5py.File:
    """Open an asegen HDF5 file after checking that it is one this version reads.

    Readers (``mode="r"``) do not lock the file, so a writer may append while
    they read the structures committed when they opened it.

    Parameters
    ----------
    path
        The file.
    mode
        ``"r"`` or ``"r+"``.

    Raises
    ------
    InputNotFoundError
        If ``path`` does not exist.
    DataFormatError
        If it is not HDF5, is damaged, is locked by a writer, is not an asegen
        file, or has another format version.
    """
    if not path.exists():
        raise not_found(path)
    if path.is_dir():
        raise DataFormatError(f"{path} is a folder, not an HDF5 file; give a file")
    try:
        with path.open("rb" if mode == "r" else "r+b"):
            pass
    except PermissionError as err:
        raise permission_denied(path, err) from None
    if not is_hdf5(path):
        raise DataFormatError(
            f"{path} is not an HDF5 file; convert it first with "
            f"`asegen convert {path} {path.with_suffix('.h5')}`"
        )
    try:
        file = open_hdf5(path, mode)
    except OSError as err:
        if "unable to lock" in str(err).lower():
            raise DataFormatError(
                f"{path} is open for writing in another program; close it and retry"
            ) from None
        if is_permission_error(err):
            raise permission_denied(path, err) from None
        if "already open for read-only" in str(err):
            raise DataFormatError(
                f"{path} is open for reading in this process; close its readers "
                "(H5Dataset.close(), h5py.File.close()) before writing to it"
            ) from None
        raise damaged(path, err) from None
    try:
        _check_header(file, path)
    except BaseException:
        file.close()
        raise
    return file


def open_hdf5(path: Path, mode: str) -> h5py.File:
    """Open ``path`` with h5py: writers lock it where the file system can.

    Readers open it as plain ``h5py.File(path)`` does (HDF5's default
    locking), so the same process can open it with h5py too; a file another
    process is writing (its lock is taken) is read without locking, and one
    this process writes with the writer's setting (HDF5 shares the handle).
    """
    import h5py

    if mode != "r":
        return h5py.File(path, mode, locking="best-effort")
    for locking in (None, False, "best-effort"):
        try:
            return h5py.File(path, mode, locking=locking)
        except OSError as err:
            text = str(err)
            if "lock" not in text:  # not a locking conflict: a real error
                raise
            failure = err
    raise failure


def is_hdf5(path: Path) -> bool:
    """Whether ``path`` is a file with HDF5's signature where HDF5 looks for it.

    That is at byte 0, 512, 1024, 2048, ... (after a user block), as
    ``h5py.is_hdf5`` checks, without importing h5py; ``False`` for a file
    that cannot be read (its reader then says why).
    """
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            offset = 0
            while offset + len(_SIGNATURE) <= size:
                file.seek(offset)
                if file.read(len(_SIGNATURE)) == _SIGNATURE:
                    return True
                offset = max(2 * offset, 512)
    except OSError:
        return False
    return False


def not_found(path: Path) -> InputNotFoundError:
    """Return the error for an input path that does not exist."""
    return InputNotFoundError(
        f"{path} does not exist; check the path (a relative path starts at the "
        "folder the command runs in)"
    )


def is_permission_error(err: OSError) -> bool:
    """Whether ``err`` (also an HDF5 error wrapped by h5py) means access denied."""
    return (
        isinstance(err, PermissionError)
        or err.errno == errno.EACCES
        or "errno = 13," in str(err)
    )


def permission_denied(path: Path, err: OSError) -> DataFormatError:
    """Return the error for a file or folder this user may not read or write.

    Parameters
    ----------
    path
        The file or folder named by the user (or the output's folder).
    err
        The ``PermissionError`` raised; its file name is preferred to ``path``.
    """
    where = err.filename or path
    return DataFormatError(
        f"{where}: permission denied ({brief(err)}); change its permissions "
        "(chmod) or choose a path you may read and write"
    )


def damaged(path: Path, err: BaseException) -> DataFormatError:
    """Return the error for a truncated or corrupt file, naming ``err`` briefly."""
    return DataFormatError(
        f"{path} is a damaged HDF5 file (truncated or corrupt: {brief(err)}); "
        "restore it from a backup or convert it again from its source"
    )


def brief(err: BaseException) -> str:
    """Return ``err`` as one short line for an error message."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it over ``target`` on success.

    On any exception the temporary file is removed and ``target`` is untouched.
    The temporary name, ``.partial-<PID>-<name>``, ends with ``target``'s name,
    so suffix-based format and compression guesses still work. Temporary files
    of ``target`` left by a killed process (its PID no longer runs) are removed
    first, each with a one-line warning.
    """
    remove_stale_partials(target)
    partial = target.with_name(f"{_PARTIAL}{os.getpid()}-{target.name}")
    try:
        yield partial
        os.replace(partial, target)
    except PermissionError as err:
        partial.unlink(missing_ok=True)
        raise permission_denied(target, err) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


_PARTIAL = ".partial-"


def remove_stale_partials(target: Path) -> list[Path]:
    """Remove ``.partial-<PID>-<name>`` files of ``target`` whose process is gone.

    Parameters
    ----------
    target
        The output file whose temporary files are looked for, next to it.

    Returns
    -------
    list of Path
        The files removed, each announced by a one-line ``UserWarning``.
    """
    removed = []
    suffix = f"-{target.name}"
    if not target.parent.is_dir():
        return removed
    for candidate in target.parent.glob(f"{_PARTIAL}*{suffix}"):
        pid = candidate.name[len(_PARTIAL) : -len(suffix)]
        if not pid.isdigit() or _running(int(pid)):
            continue
        try:
            candidate.unlink()
        except FileNotFoundError:  # removed by another process meanwhile
            continue
        except PermissionError as err:
            raise permission_denied(candidate, err) from None
        removed.append(candidate)
        warnings.warn(
            f"removed {candidate}, left by an interrupted run (process {pid})",
            UserWarning,
            stacklevel=3,
        )
    return removed


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_header(file: h5py.File, path: Path) -> None:
    if file.attrs.get("format") != FORMAT_NAME:
        raise DataFormatError(
            f"{path} is an HDF5 file but not an asegen structure file; "
            f"create one with `asegen convert` or asegen.data.write"
        )
    version = int(file.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        fix = (
            "upgrade asegen (pip install -U asegen)"
            if version > FORMAT_VERSION
            else "convert it again from its source with this asegen"
        )
        raise DataFormatError(
            f"{path} has asegen format version {version} but this asegen reads "
            f"version {FORMAT_VERSION}; {fix}"
        )
    if COUNT_ATTR not in file.attrs:
        raise damaged(path, KeyError(f"no {COUNT_ATTR!r} attribute"))
