"""The inputs of a distil run, checked before any work: teacher, folder, seeds."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from ase import Atoms
from ase.calculators.calculator import BaseCalculator

from asegen._config import parse_yaml
from asegen.augment.specs import build_calculator
from asegen.errors import ConfigError

__all__ = ["RECORD", "build_teacher", "check_out", "fingerprint"]

#: The file in a distil folder that records how the run was started.
RECORD = "distil.yaml"

_EXAMPLE = (
    "e.g. '+ase.calculators.emt.EMT()' or "
    "'{+chgnet.model.dynamics.CHGNetCalculator: {use_device: cpu}}'"
)


def build_teacher(spec: str | Mapping[str, Any] | BaseCalculator) -> tuple[Any, Any]:
    """Build the teacher calculator from a spec; return it and the spec as data.

    Parameters
    ----------
    spec
        A calculator spec as augment configs write ``model.calculator``
        (docs/augment.md): ``"+module.Class()"``, ``"+module.f(key=value)"``,
        a one-key mapping ``{"+module.Class": {key: value}}`` or the same
        mapping as inline YAML text (``"{+module.Class: {key: value}}"``);
        or an ASE calculator object.

    Raises
    ------
    ConfigError
        If the spec cannot be read, imported or called, or gives no calculator.
    """
    if isinstance(spec, BaseCalculator):
        kind = type(spec)
        return spec, f"<{kind.__module__}.{kind.__name__} object>"
    record: Any = spec
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{"):
            try:
                record = parse_yaml(text)
            except yaml.YAMLError:
                raise ConfigError(
                    f"the teacher spec {spec!r} is not valid YAML; write a one-key "
                    f"mapping, {_EXAMPLE}"
                ) from None
        elif not text.startswith("+"):
            raise ConfigError(
                f"the teacher spec {spec!r} names no calculator; write it as "
                f"augment configs do, {_EXAMPLE}"
            )
    try:
        return build_calculator(record), record
    except ConfigError as err:
        raise ConfigError(f"teacher {spec}: {err}") from None


def fingerprint(images: Sequence[Atoms]) -> str:
    """Return a SHA-256 of the atoms, positions, cells and periodicity."""
    digest = hashlib.sha256()
    for atoms in images:
        for array in (atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def check_out(out: str | os.PathLike) -> Path:
    """Check that ``out`` can hold a distil run; return it as a path.

    A new folder, an empty one, or one that holds a distil run
    (``distil.yaml``) is accepted; nothing is created here.

    Raises
    ------
    ConfigError
        If ``out`` is a file, lies in a file, holds other files, or cannot be
        created or written.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the run")
    if out.is_dir():
        if any(out.iterdir()) and not (out / RECORD).is_file():
            raise ConfigError(
                f"--out {out} holds other files and no {RECORD}; give a new or "
                "empty folder"
            )
        if not os.access(out, os.W_OK | os.X_OK):
            raise ConfigError(f"--out {out} is not writable; give another folder")
        return out
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"--out {out} lies in the file {parent}; give a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot create --out {out} in {parent}; give another folder")
    return out
