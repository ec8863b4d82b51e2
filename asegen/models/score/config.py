"""Configuration of the diffusion score network: graph, size, heads, conditioning."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asegen._config import check_choice, check_int
from asegen.errors import ConfigError

__all__ = ["HEAD_OPTIONS", "PROPERTY_KINDS", "ScoreConfig"]

#: The heads a score network can have, with the options each one takes.
HEAD_OPTIONS: dict[str, tuple[str, ...]] = {
    "positions": (),
    "types": ("classes",),
    "cell": (),
}

#: How a conditioning property is encoded.
PROPERTY_KINDS = ("scalar", "integer")


def _default_heads() -> dict[str, dict[str, Any]]:
    return {"positions": {}}


@dataclass(frozen=True)
class ScoreConfig:
    """Every option of :class:`~asegen.models.score.ScoreModel`.

    Attributes
    ----------
    cutoff
        Radius of the atom graph, Å.
    max_neighbors
        Keep only the K nearest neighbours per atom; ``None`` (default) is the
        plain radius graph.
    features
        Width ``F`` of the scalar and vector features of every atom.
    layers
        Number of interaction blocks (message + update), each conditioned.
    radial_basis
        Number of Gaussians expanding the edge length on ``[0, cutoff]``.
    envelope_exponent
        Exponent ``p`` of the polynomial envelope that takes every edge
        smoothly to zero at the cutoff.
    time_features
        Width of the sinusoidal encodings of the diffusion time and of scalar
        properties (even, at least 16).
    aggregation
        How an atom combines its neighbours' messages: ``"mean"`` (default:
        the sum while an atom has at most the training structures' mean
        number of neighbours, which the diffusion task fits, and the mean
        times that number beyond it) or ``"sum"``. The mean keeps features
        bounded however dense the graph: the lattice noiser's cells at mid
        diffusion times can hold a quarter of the training volume, four times
        the neighbours, and a sum over four blocks then grows by orders of
        magnitude; below the training count it is the sum, so that an atom
        with few neighbours (a stretched cell) is not amplified either.
    centred
        Give every atom its displacement from its structure's centroid as a
        vector input. For molecules and clusters (no cell): an atom that
        drifts beyond the cutoff of every other atom still feels where its
        molecule is, so the model can pull it back. Not for periodic cells,
        where a centroid depends on how atoms are wrapped.
    heads
        The outputs, by key, each with its options: ``"positions"`` (no
        options; ``(N, 3)`` predicted standard noise of the positions),
        ``"types"`` (``classes``: the number of logits per atom, the size of
        the type noiser's vocabulary) and ``"cell"`` (no options;
        ``(S, 3, 3)`` symmetric predicted noise of the cell). Default:
        positions only.
    properties
        Conditioning properties, by name, each ``{"kind": "scalar"}`` (a
        standardised float) or ``{"kind": "integer", "classes": C}`` (a class
        index in ``0..C-1``). A model reads them from the structure labels
        ``"property:<name>"``; NaN or a missing label means "not given".
    """

    cutoff: float = 6.0
    max_neighbors: int | None = None
    features: int = 64
    layers: int = 4
    radial_basis: int = 20
    envelope_exponent: int = 5
    time_features: int = 16
    aggregation: str = "mean"
    centred: bool = False
    heads: dict[str, dict[str, Any]] = field(default_factory=_default_heads)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validate every value and store heads and properties as plain dicts."""
        if not _is_number(self.cutoff) or not self.cutoff > 0:
            raise ConfigError(
                f"cutoff must be a positive number of Å, got {self.cutoff}"
            )
        if self.max_neighbors is not None:
            check_int("max_neighbors", self.max_neighbors, 1)
        check_int("features", self.features, 1)
        check_int("layers", self.layers, 1)
        check_int("radial_basis", self.radial_basis, 2)
        check_int("envelope_exponent", self.envelope_exponent, 1)
        check_int("time_features", self.time_features, 16)
        check_choice("aggregation", self.aggregation, ("mean", "sum"))
        if self.time_features % 2:
            raise ConfigError(f"time_features must be even, got {self.time_features}")
        object.__setattr__(self, "heads", _checked_heads(self.heads))
        object.__setattr__(self, "properties", _checked_properties(self.properties))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _options(where: str, options: object) -> dict[str, Any]:
    """Return ``options`` as a dict (``None``, as YAML reads ``key:``, is empty)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where} must be a mapping of options, got {options!r}")
    return {str(key): value for key, value in options.items()}


def _check_keys(where: str, options: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    for key in options:
        if key not in valid:
            allowed = ", ".join(valid) or "none"
            raise ConfigError(
                f"unknown option '{where}.{key}'; valid options: {allowed}"
            )


def _checked_heads(heads: object) -> dict[str, dict[str, Any]]:
    valid = ", ".join(HEAD_OPTIONS)
    if not isinstance(heads, Mapping) or not heads:
        raise ConfigError(f"heads must map at least one of {valid} to its options")
    checked = {}
    for name, raw in heads.items():
        if name not in HEAD_OPTIONS:
            raise ConfigError(f"unknown head 'heads.{name}'; valid heads: {valid}")
        options = _options(f"heads.{name}", raw)
        _check_keys(f"heads.{name}", options, HEAD_OPTIONS[name])
        if name == "types":
            if "classes" not in options:
                raise ConfigError(
                    "heads.types needs 'classes', the number of type logits per atom"
                )
            check_int("heads.types.classes", options["classes"], 2)
        checked[name] = options
    return checked


def _checked_properties(properties: object) -> dict[str, dict[str, Any]]:
    if not isinstance(properties, Mapping):
        raise ConfigError(
            f"properties must map each property name to its options, got {properties!r}"
        )
    checked = {}
    for name, raw in properties.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"property names must be non-empty strings, got {name!r}")
        where = f"properties.{name}"
        options = _options(where, raw)
        if "kind" not in options:
            raise ConfigError(f"{where} needs 'kind': 'scalar' or 'integer'")
        check_choice(f"{where}.kind", options["kind"], PROPERTY_KINDS)
        if options["kind"] == "integer":
            _check_keys(where, options, ("kind", "classes"))
            if "classes" not in options:
                raise ConfigError(
                    f"{where} is an integer property and needs 'classes', "
                    "the number of values it takes"
                )
            check_int(f"{where}.classes", options["classes"], 1)
        else:
            _check_keys(where, options, ("kind",))
        checked[name] = options
    return checked
