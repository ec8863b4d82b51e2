"""Read alignn's training folders: ``id_prop.json`` or ``id_prop.csv`` + structures.

``id_prop.json`` (alignn's force-field format) is a list of records with a
jarvis ``atoms`` dictionary (``lattice_mat``, ``coords``, ``elements``,
``cartesian``) and labels: ``energy_per_atom`` (or ``total_energy``), ``forces``
(N x 3, eV/Å) and ``stresses`` (3 x 3 in GPa, as alignn trains). They become
``Atoms`` with a ``SinglePointCalculator`` in ASE units (total energy, eV/Å³
stress), and the record id in ``info["id"]``. Every other record value is
kept for the atomwise and additional heads (alignn's ``--atomwise_key``,
``--additional_output_key``): a key whose values are numeric with one row per
atom in every record that has it goes to ``atoms.arrays``, any other to
``atoms.info``.

``id_prop.csv`` has lines ``FILENAME,VALUE[,VALUE...]`` naming structure files
in the same folder (any format ``ase.io`` reads); the values go to
``info["target"]`` (a float, or a list for several).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.stress import full_3x3_to_voigt_6_stress
from ase.units import GPa

from asegen.data._ase_files import read_file
from asegen.errors import DataFormatError, InputNotFoundError

__all__ = ["alignn_index", "read_alignn_folder"]

_ENERGY_KEYS = ("energy_per_atom", "total_energy", "energy")
# Record keys that become the structure, its labels and its id.
_READ_KEYS = {"atoms", "forces", "stresses", "jid", "id", *_ENERGY_KEYS}


def alignn_index(folder: Path) -> Path | None:
    """Return the ``id_prop.json`` or ``id_prop.csv`` of ``folder``, if it has one."""
    for name in ("id_prop.json", "id_prop.csv"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_alignn_folder(path: str | os.PathLike) -> list[Atoms]:
    """Return the labelled structures of an alignn training folder."""
    folder = Path(path)
    index = alignn_index(folder)
    if index is None:
        raise InputNotFoundError(
            f"{folder} has no id_prop.json or id_prop.csv; pass an alignn training "
            "folder or a structure file"
        )
    return _from_json(index) if index.suffix == ".json" else _from_csv(index)


def _from_json(file: Path) -> list[Atoms]:
    try:
        records = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise DataFormatError(
            f"{file} is not valid JSON ({err}); fix it (alignn's id_prop.json is a "
            "list of records)"
        ) from None
    images = []
    for k, record in enumerate(records):
        try:
            atoms = _jarvis_atoms(record["atoms"])
        except (KeyError, TypeError, ValueError) as err:
            raise DataFormatError(
                f"record {k} of {file} has no readable 'atoms' dictionary ({err}); "
                "give it jarvis 'atoms' with lattice_mat, coords and elements"
            ) from None
        results = {}
        for key in _ENERGY_KEYS:
            if key in record:
                scale = len(atoms) if key == "energy_per_atom" else 1
                results["energy"] = float(np.ravel(record[key])[0]) * scale
                break
        if "forces" in record:
            results["forces"] = np.asarray(record["forces"], dtype=float)
        if "stresses" in record:
            full = np.asarray(record["stresses"], dtype=float).reshape(3, 3) * GPa
            results["stress"] = full_3x3_to_voigt_6_stress(full)
        if results:
            atoms.calc = SinglePointCalculator(atoms, **results)
        for key in ("jid", "id"):
            if key in record:
                atoms.info["id"] = str(record[key])
        images.append(atoms)
    _keep_other_values(records, images)
    return images


def _keep_other_values(records: list[dict], images: list[Atoms]) -> None:
    """Store record values not read as labels: per atom in arrays, else in info."""
    keys = {key for record in records for key in record} - _READ_KEYS
    for key in sorted(keys):
        owners = [(r[key], a) for r, a in zip(records, images, strict=True) if key in r]
        per_atom = all(_is_per_atom(value, len(atoms)) for value, atoms in owners)
        for value, atoms in owners:
            if per_atom:
                atoms.set_array(key, np.asarray(value))
            else:
                atoms.info[key] = value


def _is_per_atom(value: object, n_atoms: int) -> bool:
    try:
        array = np.asarray(value)
    except ValueError:  # ragged lists
        return False
    return array.ndim >= 1 and len(array) == n_atoms and array.dtype.kind in "biuf"


def _jarvis_atoms(data: dict) -> Atoms:
    lattice = np.asarray(data["lattice_mat"], dtype=float)
    coords = np.asarray(data["coords"], dtype=float)
    positions = coords if data.get("cartesian", False) else coords @ lattice
    return Atoms(data["elements"], positions=positions, cell=lattice, pbc=True)


def _from_csv(file: Path) -> list[Atoms]:
    images = []
    with file.open(newline="") as handle:
        for k, row in enumerate(csv.reader(handle)):
            if not row:
                continue
            structure = file.parent / row[0]
            if not structure.is_file():
                raise InputNotFoundError(
                    f"line {k + 1} of {file} names {row[0]}, which is not in "
                    f"{file.parent}; add the file or fix the line"
                )
            atoms = list(read_file(structure, None))[-1]  # the last, as ase.io.read
            try:
                values = [float(v) for v in row[1:]]
            except ValueError:
                raise DataFormatError(
                    f"line {k + 1} of {file} has a value that is not a number; "
                    "write FILENAME,VALUE[,VALUE...] with numeric values"
                ) from None
            atoms.info["target"] = values[0] if len(values) == 1 else values
            atoms.info["id"] = row[0]
            images.append(atoms)
    return images
