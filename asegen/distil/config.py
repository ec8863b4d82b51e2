"""Settings of ``asegen distil``: augment, split, student model and training, MD.

A distil config is a short YAML/JSON file; every key it leaves out takes the
default below, and ``--set section.key=value`` overrides one value::

    structures: 300          # augmented structures in all, seeds included
    augment: {T: 500, sigma_range: [0.04, 0.2], max_relax_steps: 8}
    split: {fractions: [0.8, 0.1, 0.1], seed: 0}
    model: {hidden_features: 64, alignn_layers: 2, gcn_layers: 2}
    train: {epochs: 200, max_minutes: 20, learning_rate: 0.002}
    md: {steps: 200, temperature: 300, timestep: 1.0}

``augment`` takes the keys of :class:`~asegen.augment.AugmentSettings`
(``n_per_structure``, when given, wins over ``structures``); ``model`` and
``train`` are the sections of ``asegen train alignn`` (docs: ALIGNN force
fields, Training).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asegen._config import (
    apply_overrides,
    check_int,
    from_dict,
    read_config_file,
    unknown_key_error,
)
from asegen.augment import AugmentSettings
from asegen.distil.md import MDSettings
from asegen.distil.split import SplitSettings
from asegen.errors import ConfigError
from asegen.train.runner import load_run_config

__all__ = [
    "AUGMENT",
    "STUDENT_MODEL",
    "STUDENT_TRAIN",
    "DistilConfig",
    "load_distil_config",
]

#: Rattle–relax–repeat settings that grew the bundled Pd–O set
#: (``scripts/make_pdo.py``): strong rattles, short relaxations, strained cells.
AUGMENT: dict[str, Any] = {
    "T": 500.0,
    "beta": 0.5,
    "sigma_range": [0.04, 0.2],
    "seed": 0,
    "units": "eV",
    "cell_sigma": 0.03,
    "max_force": 20.0,
    "min_separation": 1.0,
    "max_relax_steps": 8,
    "similarity_threshold": 0.1,
}

#: The student: a small ALIGNN force field (the bundled ``pdo``'s size).
STUDENT_MODEL: dict[str, Any] = {
    "cutoff": 5.0,
    "three_body_cutoff": 3.5,
    "hidden_features": 64,
    "embedding_features": 64,
    "alignn_layers": 2,
    "gcn_layers": 2,
}

#: Its training: the best validation epoch is kept; the validation split is
#: given, and the held-out test split is distil's own, so the engine takes
#: no test structures from the training split (``n_test: 0``).
STUDENT_TRAIN: dict[str, Any] = {
    "epochs": 200,
    "max_minutes": 20.0,
    "batch_size": 16,
    "learning_rate": 2e-3,
    "scheduler": "none",
    "seed": 0,
    "n_test": 0,
    "weights": {"energy": 1.0, "forces": 1.0, "stress": 0.5},
}

#: Settings that may differ when a distil run is resumed: they change no result.
RERUN_MAY_CHANGE = frozenset({"train.device", "train.num_workers"})


@dataclass(frozen=True)
class DistilConfig:
    """A distil config: every section, defaults filled.

    Attributes
    ----------
    structures
        Augmented structures in all, seeds included, rounded up to whole
        families: ``n_per_structure = ceil(structures / seeds)``.
    augment
        The Augmenter's settings: the keys of an augment config's ``config``
        section (``n_per_structure``, when given, wins over ``structures``);
        keys left out take the values shown, then the Augmenter's defaults.
    split
        How the augmented structures are split by family branch.
    model
        The student's ``model`` section (``asegen train alignn``); keys left
        out take the values shown, then ALIGNN's defaults.
    train
        The student's ``train`` section (``asegen train alignn``); keys left
        out take the values shown, then the engine's defaults.
    md
        The NVE stability check.
    """

    structures: int = 300
    augment: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(AUGMENT))
    split: SplitSettings = field(default_factory=SplitSettings)
    model: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(STUDENT_MODEL))
    train: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(STUDENT_TRAIN))
    md: MDSettings = field(default_factory=MDSettings)

    def __post_init__(self) -> None:
        """Check the count and the Augmenter's and the student's sections."""
        check_int("structures", self.structures, 1)
        self.augment_settings(1)
        load_run_config("alignn", self.run_config()).build_model()  # no data read

    def augment_settings(self, n_seeds: int) -> AugmentSettings:
        """Return the Augmenter's settings for ``n_seeds`` starting structures."""
        names = [f.name for f in dataclasses.fields(AugmentSettings)]
        for key in self.augment:
            if key not in names:
                raise unknown_key_error(str(key), names, "augment.")
        size = {"n_per_structure": max(1, -(-self.structures // n_seeds))}
        return from_dict(AugmentSettings, {**size, **self.augment}, "augment.")

    def run_config(self) -> dict[str, Any]:
        """Return the student's run config (``model`` and ``train`` sections)."""
        return copy.deepcopy({"model": self.model, "train": self.train})

    def as_data(self) -> dict[str, Any]:
        """Every section as plain data (what ``DIR/distil.yaml`` records)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _merge(base: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``given`` into ``base`` (nested mappings key by key)."""
    for key, value in given.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_distil_config(
    source: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    overrides: Iterable[str] = (),
) -> DistilConfig:
    """Read a distil config, fill the defaults and check every section.

    The ``augment``, ``model`` and ``train`` sections given are merged into
    the defaults key by key (``train.weights`` too); ``split`` and ``md`` are
    checked strictly.

    Parameters
    ----------
    source
        A YAML/JSON file, the same content as a mapping, or ``None``.
    overrides
        ``section.key=value`` strings, values parsed as YAML.

    Raises
    ------
    ConfigError, InputNotFoundError
        For a missing file, an unknown key (named, with the closest valid
        one) or a value out of range.
    """
    given: dict[str, Any]
    if source is None:
        given = {}
    elif isinstance(source, Mapping):
        given = copy.deepcopy(dict(source))
    else:
        given = read_config_file(source)
    given = apply_overrides(given, overrides)
    given = {k: v for k, v in given.items() if v is not None}  # an empty section
    names = [f.name for f in dataclasses.fields(DistilConfig)]
    for key, value in given.items():
        if key not in names:
            raise unknown_key_error(str(key), names, "")
        if key != "structures" and not isinstance(value, Mapping):
            raise ConfigError(f"section '{key}' must be a mapping of keys to values")
    base = DistilConfig()
    merged: dict[str, Any] = dict(given)
    for key in ("augment", "model", "train"):
        merged[key] = _merge(getattr(base, key), given.get(key, {}))
    return from_dict(DistilConfig, merged)


def first_difference(
    old: Any, new: Any, where: str = "", *, ignore: frozenset[str] = frozenset()
) -> tuple[str, Any, Any] | None:
    """Return ``(key, old, new)`` of the first difference of two configs, or None."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            name = f"{where}{key}"
            if name in ignore:
                continue
            found = first_difference(
                old.get(key), new.get(key), f"{name}.", ignore=ignore
            )
            if found is not None:
                return found
        return None
    if isinstance(old, list | tuple) and isinstance(new, list | tuple):
        old, new = list(old), list(new)
    return None if old == new else (where.rstrip("."), old, new)
