"""Read chemical formulas: ``parse_formula`` for generation and evaluation.

One parser serves :class:`~asegen.diffusion.generator.DiffusionGenerator`
(the atomic numbers of the atoms to add) and
:func:`asegen.evaluation.evaluate` (the requested composition,
through :func:`formula_counts`).
"""

from __future__ import annotations

from collections import Counter

from ase.data import atomic_numbers, chemical_symbols
from ase.formula import Formula

from asegen.errors import ConfigError

__all__ = ["formula_counts", "parse_formula"]

_EXAMPLE = "write it like Cu4Au4 or Pd2O2"


def parse_formula(formula: str) -> list[int]:
    """Return the atomic numbers of ``formula`` (``"Pd4O4"``, ``"(CuAu)2"``).

    The numbers come grouped by element, in the order the elements first
    appear in the formula; spaces are ignored and elements with count 0 add
    no atoms.

    Raises
    ------
    asegen.errors.ConfigError
        For a formula ASE cannot read, an unknown element (``X`` included) or
        a formula without atoms.
    """
    try:
        counts = Formula(formula.replace(" ", "")).count()
    except ValueError as err:
        why = f" ({err})" if str(err) else ""
        raise ConfigError(
            f"cannot read the formula {formula!r}{why}; {_EXAMPLE}"
        ) from None
    unknown = [s for s in counts if s not in atomic_numbers or s == "X"]
    if unknown:
        raise ConfigError(
            f"cannot read the formula {formula!r}: no element {unknown[0]!r}; "
            f"{_EXAMPLE}"
        )
    numbers = [atomic_numbers[symbol] for symbol, n in counts.items() for _ in range(n)]
    if not numbers:
        raise ConfigError(f"the formula {formula!r} has no atoms; {_EXAMPLE}")
    return numbers


def formula_counts(formula: str) -> dict[str, int]:
    """Return the element counts of ``formula`` (``{"Cu": 4, "Au": 4}``).

    The counts of :func:`parse_formula`'s atomic numbers, with its errors.
    """
    numbers = Counter(parse_formula(formula))
    return {chemical_symbols[z]: count for z, count in numbers.items()}
