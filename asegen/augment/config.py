"""The augment-atoms config schema: ``data``, ``config`` and ``model`` sections.

An anchor ``config.yaml`` loads unchanged, with the anchor's keys, defaults
and strictness: unknown keys (named, with the closest valid one), missing
required keys, floats for integers and unknown ``units`` are errors. asegen
also checks the values the anchor left unchecked (D14): types (the key and
the type it needs), finite numbers (NaN and infinity are refused), ``T > 0``,
``0 ≤ beta ≤ 1``, ``0 < sigma_range[0] ≤ sigma_range[1]`` and the other ranges
below. Every problem is one :class:`~asegen.errors.ConfigError` line.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ase.calculators.calculator import BaseCalculator

from asegen._config import (
    apply_overrides,
    check_choice,
    from_dict,
    read_config_file,
    unknown_key_error,
)
from asegen.augment.specs import build_calculator, resolve, resolve_references
from asegen.errors import ConfigError

__all__ = [
    "BOLTZMANN",
    "REQUIRED",
    "AugmentConfig",
    "AugmentSettings",
    "DataConfig",
    "ModelConfig",
    "load_config",
]

BOLTZMANN = {"eV": 8.617333262145e-5, "kcal/mol": 0.0019872041}
"""k_B per kelvin for each ``units`` value; ``units`` selects nothing else."""

REQUIRED = ("n_per_structure", "T", "beta", "sigma_range", "seed", "units")
"""Keys of the ``config`` section a YAML file must give (the anchor's rule)."""


@dataclass
class AugmentSettings:
    """Settings of the rattle–relax–repeat loop (the ``config`` section).

    Attributes
    ----------
    n_per_structure
        Family size per starting structure, the labelled seed included (≥ 1).
    T
        Temperature (K, > 0) of the Boltzmann parent weights and of the early
        stop.
    beta
        Weight of the generation term in parent selection, in [0, 1] (0: pure
        Boltzmann on per-atom energy, 1: deeper members favoured linearly).
    sigma_range
        ``[low, high]`` with ``0 < low ≤ high``: the rattle amplitude σ (Å)
        is drawn log-uniformly from this range.
    seed
        Seed of every random stream (≥ 0).
    units
        ``"eV"`` or ``"kcal/mol"``: selects k_B only; energies, forces and
        ``max_force`` stay in the calculator's units.
    cell_sigma
        Relative strain (≥ 0) of each periodic lattice vector
        (dimensionless), drawn around the seed's cell; ``None`` keeps every
        cell equal to the seed's.
    max_force
        A structure is rejected if its largest per-atom force norm reaches
        this (energy/Å, > 0).
    min_separation
        A structure is rejected if any pair of atoms, periodic images
        included, is closer than this (Å, ≥ 0).
    max_relax_steps
        Relaxation steps (σ/i along the force directions) at most per child
        (≥ 0).
    similarity_threshold
        Mean per-atom distance (Å, ≥ 0) below which a candidate duplicates a
        member.
    wave_width
        Children of one family grown at once (≥ 1; an asegen extension; 1 is
        augment-atoms' loop): each wave of this many slots picks its parents
        from the members before it, and its children are admitted in slot
        order, each tested against its siblings admitted before it. Only pays
        with a batching calculator; changes the output.
    """

    n_per_structure: int = 10
    T: float = 300.0
    beta: float = 0.5
    sigma_range: tuple[float, float] = (0.01, 0.1)
    seed: int = 0
    units: str = "eV"
    cell_sigma: float | None = None
    max_force: float = 30.0
    min_separation: float = 0.5
    max_relax_steps: int = 20
    similarity_threshold: float = 0.1
    wave_width: int = 1

    def __post_init__(self) -> None:
        _integer("n_per_structure", self.n_per_structure, minimum=1)
        _integer("seed", self.seed, minimum=0)
        _integer("max_relax_steps", self.max_relax_steps, minimum=0)
        _integer("wave_width", self.wave_width, minimum=1)
        if _number("T", self.T) <= 0:
            raise ConfigError(f"T must be above 0 K, got {self.T}; give kelvin")
        if not 0 <= _number("beta", self.beta) <= 1:
            raise ConfigError(f"beta must lie in [0, 1], got {self.beta}")
        self.sigma_range = _sigma_range(self.sigma_range)
        check_choice("units", self.units, tuple(BOLTZMANN))
        if self.cell_sigma is not None and _number("cell_sigma", self.cell_sigma) < 0:
            raise ConfigError(f"cell_sigma must be ≥ 0 or null, got {self.cell_sigma}")
        if _number("max_force", self.max_force) <= 0:
            raise ConfigError(f"max_force must be above 0, got {self.max_force}")
        for name in ("min_separation", "similarity_threshold"):
            if _number(name, getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be ≥ 0, got {getattr(self, name)}")

    @property
    def kT(self) -> float:
        """k_B·T in the calculator's energy unit."""
        return BOLTZMANN[self.units] * self.T


def _integer(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be ≥ {minimum}, got {value}")


def _number(name: str, value: Any) -> float:
    """``value`` as a float; a ConfigError unless it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    return float(value)


def _sigma_range(value: Any) -> tuple[float, float]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError(f"sigma_range must be two numbers [low, high], got {value!r}")
    items = list(value)
    if len(items) != 2:
        raise ConfigError(f"sigma_range must be two numbers [low, high], got {items}")
    low, high = (_number("sigma_range", item) for item in items)
    if not 0 < low <= high:
        raise ConfigError(
            f"sigma_range must satisfy 0 < low ≤ high, got [{low}, {high}]; "
            "give the smallest rattle amplitude first"
        )
    return low, high


@dataclass
class DataConfig:
    """The ``data`` section: where structures come from and go to.

    Attributes
    ----------
    input
        The starting structures (every frame): anything
        :func:`asegen.data.read_structures` reads (extxyz or any ``ase.io``
        file, asegen HDF5, an alignn training folder or a folder of
        structure files). Never a dataset download.
    output
        ``.xyz``/``.extxyz``, ``.db`` (ASE database) or ``.h5``/``.hdf5``
        (asegen HDF5); an existing file is topped up (resume).
    """

    input: str
    output: str

    def __post_init__(self) -> None:
        for name in ("input", "output"):
            value = getattr(self, name)
            if not isinstance(value, str | os.PathLike) or not str(value):
                raise ConfigError(f"data.{name} must be a file path, got {value!r}")


@dataclass
class ModelConfig:
    """The ``model`` section: the calculator that labels everything.

    Attributes
    ----------
    calculator
        A calculator spec (``+ase.calculators.emt.EMT()``, a mapping of a
        callable to its keyword arguments, ...; see the augment guide) or,
        from Python, an ASE calculator.
    """

    calculator: Any


@dataclass
class AugmentConfig:
    """A whole augment config: ``data``, ``config`` (settings) and ``model``."""

    data: DataConfig
    config: AugmentSettings
    model: ModelConfig

    @property
    def calculator(self) -> BaseCalculator:
        """The calculator built from ``model.calculator``."""
        return self.model.calculator


_SECTIONS = {"data": DataConfig, "config": AugmentSettings, "model": ModelConfig}


def _copy_tree(value: Any) -> Any:
    """Copy nested mappings and lists; leaves (a calculator object) are shared."""
    if isinstance(value, Mapping):
        return {key: _copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_tree(item) for item in value]
    return value


def load_config(
    source: str | os.PathLike | Mapping[str, Any],
    *,
    overrides: Iterable[str] = (),
) -> AugmentConfig:
    """Load and check an augment-atoms config, building its calculator last.

    Parameters
    ----------
    source
        A YAML or JSON file, or the same content as a mapping.
    overrides
        ``section.key=value`` strings (values parsed as YAML).

    Raises
    ------
    ConfigError, InputNotFoundError
        For a missing file and any problem with keys, values or the spec.
    """
    if isinstance(source, Mapping):
        data = _copy_tree(source)  # overrides must not change the caller's dict
    else:
        data = read_config_file(source)
    data = resolve_references(apply_overrides(data, overrides))
    for key in data:
        if key not in _SECTIONS:
            raise unknown_key_error(str(key), _SECTIONS, "")
    for name, section in _SECTIONS.items():
        if not isinstance(data.get(name), Mapping):
            raise ConfigError(f"the config needs a '{name}' section (a mapping)")
        names = [field.name for field in dataclasses.fields(section)]
        for key in data[name]:
            if key not in names:
                raise unknown_key_error(str(key), names, f"{name}.")
    missing = [f"config.{key}" for key in REQUIRED if key not in data["config"]]
    missing += [
        f"{name}.{field.name}"
        for name in ("data", "model")
        for field in dataclasses.fields(_SECTIONS[name])
        if field.name not in data[name]
    ]
    if missing:
        raise ConfigError(f"missing config key '{missing[0]}'; add it")
    data_section = from_dict(DataConfig, resolve(data["data"]), "data.")
    settings = from_dict(AugmentSettings, resolve(data["config"]), "config.")
    calculator = build_calculator(data["model"]["calculator"])
    return AugmentConfig(data_section, settings, ModelConfig(calculator))
