"""The values a placer is conditioned on, read from structures and fitted.

A condition named ``name`` is read from ``atoms.info[name]`` or the
calculator's results (:func:`asegen._structures.property_value`), with two
derived ones:

``composition`` (kind ``composition``)
    the element fractions and the atom count of the structure
    (:func:`~asegen.models.gschnet.composition_vector`);
``relative_atomic_energy`` (kind ``scalar``)
    energy per atom minus ``w . fractions + b``, a least-squares fit over the
    training structures (:func:`fit_relative_energy`), as cG-SchNet defines
    it: how low a structure's energy is for its composition.

Template atoms take part in neither the composition nor the count: a
condition describes what the placer adds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ase import Atoms

from asegen._structures import fixed_mask, property_value
from asegen.errors import ConfigError, DataFormatError
from asegen.models.gschnet import composition_vector, condition_width

__all__ = [
    "RELATIVE_ENERGY",
    "condition_values",
    "fit_relative_energy",
    "parse_condition",
]

#: The derived condition of cG-SchNet: energy per atom relative to a fit.
RELATIVE_ENERGY = "relative_atomic_energy"


def _added(atoms: Atoms) -> np.ndarray:
    """Atomic numbers of the atoms that are not template atoms."""
    return atoms.numbers[~fixed_mask(atoms)]


def fit_relative_energy(structures: Sequence[Atoms], where: str) -> dict[str, Any]:
    """Fit ``E / N = w . fractions + b`` over ``structures`` (least squares)."""
    rows, targets = [], []
    for k, atoms in enumerate(structures):
        energy = property_value(atoms, "energy", f"structure {k} of the {where}")
        rows.append(composition_vector(atoms.numbers)[:119])
        targets.append(energy / len(atoms))
    design = np.hstack([np.asarray(rows), np.ones((len(rows), 1))])
    solution, *_ = np.linalg.lstsq(design, np.asarray(targets), rcond=None)
    return {"weights": solution[:119].tolist(), "bias": float(solution[119])}


def condition_values(
    atoms: Atoms,
    conditions: Mapping[str, Mapping[str, Any]],
    fitted: Mapping[str, Any],
    where: str,
) -> dict[str, np.ndarray]:
    """Return each condition's value for ``atoms``, ``(width,)`` arrays."""
    values = {}
    for name, options in conditions.items():
        kind = options["kind"]
        if kind == "composition":
            value = composition_vector(
                _added(atoms), skip_h=options.get("skip_h", False)
            )
        elif name == RELATIVE_ENERGY and name not in atoms.info:
            fit = fitted.get(RELATIVE_ENERGY)
            if fit is None:
                raise RuntimeError("the relative energy is fitted before the items")
            energy = property_value(atoms, "energy", where)
            fractions = composition_vector(atoms.numbers)[:119]
            value = np.array(
                [
                    energy / len(atoms)
                    - fractions @ np.asarray(fit["weights"])
                    - fit["bias"]
                ]
            )
        elif kind == "vector":
            raw = atoms.info.get(name)
            if raw is None:
                raise DataFormatError(
                    f"{where} has no vector {name!r} in atoms.info; label every "
                    "structure or stop conditioning on it"
                )
            value = np.asarray(raw, dtype=float).reshape(-1)
            if (
                value.shape != (condition_width(options),)
                or not np.isfinite(value).all()
            ):
                raise DataFormatError(
                    f"{where}: condition {name!r} must be {condition_width(options)} "
                    f"finite numbers, got {raw!r}"
                )
        else:
            value = np.array([property_value(atoms, name, where)])
        values[name] = value
    return values


def parse_condition(name: str, raw: Any, options: Mapping[str, Any]) -> np.ndarray:
    """Return a user's target value of condition ``name`` as its label row.

    Compositions take a formula (``"C7O2H10"``) or ``{"C": 7, ...}``;
    vectors a sequence; scalars a number.
    """
    kind = options["kind"]
    if kind == "composition":
        from ase.formula import Formula

        try:
            counts = Formula(raw).count() if isinstance(raw, str) else dict(raw)
            atoms = Atoms("".join(f"{s}{n}" for s, n in counts.items()))
        except (ValueError, TypeError, KeyError) as err:
            raise ConfigError(
                f"condition {name!r}: {raw!r} is not a composition; give a formula "
                "such as C7O2H10"
            ) from err
        return composition_vector(atoms.numbers, skip_h=options.get("skip_h", False))
    try:
        value = np.asarray(raw, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"condition {name!r}: {raw!r} is not a number") from None
    width = condition_width(options)
    if value.shape != (width,) or not np.isfinite(value).all():
        raise ConfigError(
            f"condition {name!r} takes {width} finite number(s), got {raw!r}"
        )
    return value
