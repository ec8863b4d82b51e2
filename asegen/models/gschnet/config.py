"""Configuration of the cG-SchNet placer network: cutoffs, sizes, conditions."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asegen._config import check_choice, check_int, check_positive
from asegen.errors import ConfigError

__all__ = ["CONDITION_KINDS", "GSchNetConfig"]

#: How a condition is embedded, with the options each kind takes.
CONDITION_KINDS: dict[str, tuple[str, ...]] = {
    "scalar": ("min", "max", "spacing"),
    "vector": ("size",),
    "composition": ("skip_h",),
}

#: Bins per Å of the distance distributions when ``n_bins`` is not given.
BINS_PER_ANGSTROM = 30


@dataclass(frozen=True)
class GSchNetConfig:
    """Every option of :class:`~asegen.models.gschnet.GSchNet`.

    The names follow schnetpack-gschnet's configs, so its users find them.

    Attributes
    ----------
    model_cutoff
        Radius of the SchNet graph, Å (cosine cutoff).
    prediction_cutoff
        Placed atoms within this distance of the focus predict the distance
        to the next atom, Å.
    placement_cutoff
        Atoms closer than this are neighbours: the next atom is placed within
        it of the focus, Å.
    use_covalent_radii, covalent_radius_factor
        Neighbours must also be closer than ``factor * (r_i + r_j)`` with
        ASE's covalent radii.
    atom_types
        Atomic numbers the model places; ``None``: those of the training data
        (fitted before the first epoch).
    n_atom_basis, n_interactions, n_filters, n_rbf
        SchNet's feature width, number of interaction blocks, filter width and
        number of Gaussians on ``[0, model_cutoff]``.
    type_prediction_n_layers, type_prediction_n_hidden
        Depth and width of the next-type MLP.
    distance_prediction_n_layers, distance_prediction_n_hidden
        Depth and width of the distance MLP.
    distance_prediction_max_dist, distance_prediction_n_bins
        Range and resolution of the distance distributions; ``None`` gives
        ``prediction_cutoff + placement_cutoff`` and 30 bins per Å (+1).
    average_type_distributions
        Average the members' next-type distributions instead of multiplying
        them (product of experts, the default).
    conditions
        Conditions by name, each ``{"kind": ...}`` with its options:
        ``scalar`` (``min``, ``max``, ``spacing`` of the Gaussian expansion;
        fitted to the data when left out), ``vector`` (``size``, the length
        of the vector) or ``composition`` (the element fractions of
        ``atom_types`` and the atom count; ``skip_h`` leaves hydrogen out of
        both).
    condition_features, condition_layers
        Width of the conditioning vector and depth of the MLP that mixes the
        conditions' embeddings.
    """

    model_cutoff: float = 10.0
    prediction_cutoff: float = 5.0
    placement_cutoff: float = 1.7
    use_covalent_radii: bool = True
    covalent_radius_factor: float = 1.1
    atom_types: list[int] | None = None
    n_atom_basis: int = 128
    n_interactions: int = 9
    n_filters: int = 128
    n_rbf: int = 25
    type_prediction_n_layers: int = 5
    type_prediction_n_hidden: int = 256
    distance_prediction_n_layers: int = 5
    distance_prediction_n_hidden: int = 256
    distance_prediction_max_dist: float | None = None
    distance_prediction_n_bins: int | None = None
    average_type_distributions: bool = False
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    condition_features: int = 128
    condition_layers: int = 5

    def __post_init__(self) -> None:
        """Validate every value."""
        for name in ("model_cutoff", "prediction_cutoff", "placement_cutoff"):
            check_positive(name, getattr(self, name))
        check_positive("covalent_radius_factor", self.covalent_radius_factor)
        for name in (
            "n_atom_basis",
            "n_interactions",
            "n_filters",
            "type_prediction_n_layers",
            "type_prediction_n_hidden",
            "distance_prediction_n_layers",
            "distance_prediction_n_hidden",
            "condition_features",
            "condition_layers",
        ):
            check_int(name, getattr(self, name), 1)
        check_int("n_rbf", self.n_rbf, 2)
        if self.distance_prediction_max_dist is not None:
            check_positive(
                "distance_prediction_max_dist", self.distance_prediction_max_dist
            )
        if self.distance_prediction_n_bins is not None:
            check_int("distance_prediction_n_bins", self.distance_prediction_n_bins, 2)
        if self.atom_types is not None:
            types = list(self.atom_types)
            if not types or any(
                not isinstance(z, int) or isinstance(z, bool) or not 1 <= z <= 118
                for z in types
            ):
                raise ConfigError(
                    "atom_types must list atomic numbers 1..118, got "
                    f"{self.atom_types!r}"
                )
            object.__setattr__(self, "atom_types", sorted(set(types)))
        object.__setattr__(self, "conditions", _checked_conditions(self.conditions))

    @property
    def max_dist(self) -> float:
        """Largest distance of the distance distributions, Å."""
        if self.distance_prediction_max_dist is not None:
            return float(self.distance_prediction_max_dist)
        return float(self.prediction_cutoff + self.placement_cutoff)

    @property
    def n_bins(self) -> int:
        """Number of distance bins (centres from 0 to :attr:`max_dist`)."""
        if self.distance_prediction_n_bins is not None:
            return int(self.distance_prediction_n_bins)
        return math.ceil(BINS_PER_ANGSTROM * self.max_dist) + 1


def _checked_conditions(conditions: object) -> dict[str, dict[str, Any]]:
    if not isinstance(conditions, Mapping):
        raise ConfigError(
            "conditions must map each condition name to its options, got "
            f"{conditions!r}"
        )
    checked = {}
    for name, raw in conditions.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(
                f"condition names must be non-empty strings, got {name!r}"
            )
        where = f"conditions.{name}"
        options = dict(raw) if isinstance(raw, Mapping) else {"kind": raw}
        if "kind" not in options:
            kinds = ", ".join(CONDITION_KINDS)
            raise ConfigError(f"{where} needs 'kind': one of {kinds}")
        kind = options["kind"]
        check_choice(f"{where}.kind", kind, tuple(CONDITION_KINDS))
        valid = ("kind", *CONDITION_KINDS[kind])
        for key in options:
            if key not in valid:
                raise ConfigError(
                    f"unknown option '{where}.{key}'; valid options: {', '.join(valid)}"
                )
        if kind == "scalar":
            given = [key for key in ("min", "max", "spacing") if key in options]
            if given and len(given) < 3:
                raise ConfigError(
                    f"{where} gives {', '.join(given)}: give min, max and spacing "
                    "together, or none of them to fit them to the data"
                )
            if given:
                for key in given:
                    _check_finite(f"{where}.{key}", options[key])
                if not options["max"] > options["min"] or options["spacing"] <= 0:
                    raise ConfigError(
                        f"{where} needs min < max and a positive spacing, got "
                        f"{options['min']}, {options['max']}, {options['spacing']}"
                    )
        elif kind == "vector":
            if "size" not in options:
                raise ConfigError(f"{where} is a vector and needs 'size'")
            check_int(f"{where}.size", options["size"], 1)
        elif not isinstance(options.get("skip_h", False), bool):
            raise ConfigError(f"{where}.skip_h must be true or false")
        checked[name] = options
    return checked


def _check_finite(name: str, value: object) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value):  # type: ignore[arg-type]
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
