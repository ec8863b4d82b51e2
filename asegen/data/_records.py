"""Turn one ``ase.Atoms`` into a validated, self-contained record for writing.

A :class:`Record` copies everything it keeps, so the caller may change or reuse
the ``Atoms`` right after :func:`record_from_atoms` returns; every check that can
fail happens here, before anything touches a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.outputs import all_outputs
from ase.stress import full_3x3_to_voigt_6_stress

from asegen._structures import check_atoms
from asegen.data._layout import ColumnSpec, encode_json, escape_key
from asegen.errors import DataFormatError, StructureError

__all__ = ["Record", "record_from_atoms"]

_MAX_ATOMIC_NUMBER = 118
_INT64 = np.iinfo(np.int64)
_ARRAY_KINDS = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}
_CORE_ARRAYS = ("numbers", "positions")


@dataclass
class Record:
    """One structure, checked and copied, ready to be appended to a file.

    Attributes
    ----------
    numbers, positions, cell, pbc
        Core arrays: (N,) uint8, (N, 3) float64 Å, (3, 3) float64 Å, (3,) bool.
    columns
        ``(group, name) -> (spec, value)`` for every optional column the
        structure carries. ``value`` is an array for results, arrays and
        constraints; for ``info`` it is a Python scalar, or the JSON text when
        ``spec.kind == "json"``.
    """

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    columns: dict[tuple[str, str], tuple[ColumnSpec, Any]]


def record_from_atoms(
    atoms: Atoms, *, name: str, warn: Callable[[str], None]
) -> Record:
    """Check ``atoms`` and copy what the file stores into a :class:`Record`.

    Parameters
    ----------
    atoms
        The structure.
    name
        How error messages refer to it, e.g. ``"structure 3"``.
    warn
        Called with a message for data that is dropped (constraints other than
        ``FixAtoms``, calculator results that no longer match the positions).

    Raises
    ------
    StructureError
        For non-finite positions, a degenerate periodic cell or an atomic number
        outside 0–118.
    DataFormatError
        For an ``info`` key that is not a non-empty string, or a value that
        cannot be stored.
    """
    if not isinstance(atoms, Atoms):
        raise StructureError(f"{name} is a {type(atoms).__name__}, not ase.Atoms")
    check_atoms(atoms, name=name)
    numbers = atoms.numbers
    if len(numbers) and not 0 <= numbers.min() <= numbers.max() <= _MAX_ATOMIC_NUMBER:
        bad = numbers[(numbers < 0) | (numbers > _MAX_ATOMIC_NUMBER)][0]
        raise StructureError(
            f"{name} has atomic number {bad}; use atomic numbers from 0 to 118"
        )
    n_atoms = len(numbers)
    columns: dict[tuple[str, str], tuple[ColumnSpec, Any]] = {}
    for key, value in _results(atoms, warn).items():
        columns["results", key] = _array_column("results", key, value, n_atoms, name)
    for key, value in atoms.arrays.items():
        if key not in _CORE_ARRAYS:
            columns["arrays", key] = _array_column("arrays", key, value, n_atoms, name)
    for key, value in atoms.info.items():
        columns["info", key] = _info_column(key, value, name)
    fixed = _fixed_mask(atoms, warn)
    if fixed is not None:
        columns["constraints", "fixed"] = (
            ColumnSpec("constraints", "fixed", "bool", (), per_atom=True),
            fixed,
        )
    return Record(
        numbers=numbers.astype(np.uint8),
        positions=np.array(atoms.positions, dtype=np.float64),
        cell=np.array(atoms.cell, dtype=np.float64),
        pbc=np.array(atoms.pbc, dtype=bool),
        columns=columns,
    )


def _results(atoms: Atoms, warn: Callable[[str], None]) -> dict[str, Any]:
    calc = atoms.calc
    if calc is None or not getattr(calc, "results", None):
        return {}
    if hasattr(calc, "check_state") and calc.check_state(atoms):
        warn(
            "calculator results that no longer match the atoms they belong to "
            "are not stored; recalculate them"
        )
        return {}
    results = {key: value for key, value in calc.results.items() if value is not None}
    stress = results.get("stress")
    if stress is not None and np.shape(stress) == (3, 3):
        results["stress"] = full_3x3_to_voigt_6_stress(stress)
    return results


def _array_column(
    group: str, key: str, value: Any, n_atoms: int, name: str
) -> tuple[ColumnSpec, np.ndarray]:
    _check_text([escape_key(key)], f"{name} has a {group[:-1]} name")
    array = np.array(value)  # a copy
    if array.dtype.kind == "O" and all(isinstance(item, str) for item in array.flat):
        array = array.astype(str)  # ase.io's extxyz reader gives strings as objects
    kind = "str" if array.dtype.kind == "U" else _ARRAY_KINDS.get(array.dtype.kind)
    if kind is None or (kind == "str" and group == "results"):
        where = "atoms.calc.results" if group == "results" else "atoms.arrays"
        raise DataFormatError(
            f"{name} has {group[:-1]} {key!r} of dtype {array.dtype}, which cannot "
            f"be stored; convert it to numbers or remove it from {where}"
        )
    if kind == "str":
        _check_text(array.flat, f"{name} has array {key!r}")
    per_atom = group == "arrays" or _is_per_atom_result(key, array, n_atoms)
    if per_atom and array.shape[:1] != (n_atoms,):
        raise DataFormatError(
            f"{name} has {group[:-1]} {key!r} of shape {array.shape} for {n_atoms} "
            "atoms; per-atom values need one row per atom"
        )
    shape = array.shape[1:] if per_atom else array.shape
    return ColumnSpec(group, key, kind, shape, per_atom), array


def _is_per_atom_result(key: str, value: np.ndarray, n_atoms: int) -> bool:
    known = all_outputs.get(key)
    if known is not None:
        return known.shapespec[:1] == ("natoms",)
    return value.ndim > 0 and value.shape[0] == n_atoms


def _info_column(key: Any, value: Any, name: str) -> tuple[ColumnSpec, Any]:
    if not isinstance(key, str) or not key:
        raise DataFormatError(
            f"{name} has info key {key!r}; info keys must be non-empty strings"
        )
    _check_text([escape_key(key)], f"{name} has an info key")
    kind = _info_kind(value)
    if kind == "json":
        try:
            value = encode_json(value)
        except (TypeError, ValueError) as err:
            raise DataFormatError(
                f"{name} has info[{key!r}] that cannot be stored ({err}); use "
                "numbers, strings, lists, dicts or NumPy arrays"
            ) from None
    elif isinstance(value, np.generic):
        value = value.item()
    if kind == "str":
        _check_text([value], f"{name} has info[{key!r}]")
    return ColumnSpec("info", key, kind, (), per_atom=False), value


def _check_text(texts: Iterable[str], what: str) -> None:
    """Refuse text HDF5 strings cannot hold: lone surrogates and NUL characters."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            problem = "text that is not valid Unicode (a lone surrogate)"
        else:
            if "\x00" not in text:
                continue
            problem = "a NUL character"
        raise DataFormatError(f"{what} with {problem}; fix the string")


def _info_kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int" if _INT64.min <= value <= _INT64.max else "json"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "json" if "\x00" in value else "str"  # JSON escapes NUL
    return "json"


def _fixed_mask(atoms: Atoms, warn: Callable[[str], None]) -> np.ndarray | None:
    fixed = None
    for constraint in atoms.constraints:
        if isinstance(constraint, FixAtoms):
            if fixed is None:
                fixed = np.zeros(len(atoms), dtype=bool)
            fixed[constraint.get_indices()] = True
        else:
            warn(
                f"{type(constraint).__name__} constraints are not stored "
                "(only FixAtoms is); they are dropped"
            )
    return fixed
