"""Split augmented structures by family branch, so relatives stay together.

The Augmenter records each structure's family (``info["starting-structure"]``),
``id`` and ``parent``. A *branch* is a level-1 child of a starting structure
with all its descendants: its members are small perturbations of each other,
so a test structure whose sibling sits in the training set would test little.
Every branch goes whole to one split; the starting structures (the relaxed
seeds, ``parent == "root"``) go to training.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from asegen._config import check_int
from asegen.augment.family import START_KEY
from asegen.errors import ConfigError, DataFormatError

__all__ = ["SPLITS", "SplitSettings", "branches", "split_by_branch", "write_splits"]

SPLITS = ("train", "val", "test")
ROOT = "root"


@dataclass(frozen=True)
class SplitSettings:
    """How the augmented structures are split (by family branch).

    Attributes
    ----------
    fractions
        Target train, validation and test fractions.
    seed
        Seed of the branch order.
    """

    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0

    def __post_init__(self) -> None:
        """Check three non-negative fractions with a validation and test share."""
        values = list(self.fractions)
        if len(values) != 3 or not all(
            isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in values
        ):
            raise ConfigError(
                f"split.fractions must be three numbers ≥ 0 [train, val, test], got "
                f"{self.fractions!r}"
            )
        if not (values[0] > 0 and values[1] > 0 and values[2] > 0):
            raise ConfigError(
                "split.fractions needs a train, a validation and a test share above 0, "
                f"got {values}"
            )
        object.__setattr__(self, "fractions", tuple(float(v) for v in values))
        check_int("split.seed", self.seed, 0)


def branches(images: Sequence[Atoms]) -> list[str]:
    """Return each structure's branch key: ``"<family>:<level-1 ancestor id>"``.

    A starting structure's key is ``"<id>:root"``.

    Raises
    ------
    DataFormatError
        If a structure lacks the ``id``, ``parent`` or ``starting-structure``
        the Augmenter writes, or names a parent that is not there.
    """
    parent = {}
    for index, atoms in enumerate(images):
        missing = [k for k in ("id", "parent", START_KEY) if k not in atoms.info]
        if missing:
            raise DataFormatError(
                f"structure {index} has no info['{missing[0]}']: only the output "
                "of asegen augment can be split by family"
            )
        parent[atoms.info["id"]] = atoms.info["parent"]
    keys = []
    for atoms in images:
        node = atoms.info["id"]
        if parent[node] == ROOT:
            keys.append(f"{node}:{ROOT}")
            continue
        while True:  # climb to the level-1 ancestor
            up = parent[node]
            if up not in parent:
                raise DataFormatError(
                    f"structure {atoms.info['id']} descends from {up}, which is not "
                    "in the file; split a whole augment output"
                )
            if parent[up] == ROOT:
                break
            node = up
        keys.append(f"{atoms.info[START_KEY]}:{node}")
    return keys


def split_by_branch(
    images: Sequence[Atoms], fractions: Sequence[float], seed: int
) -> list[str]:
    """Assign every structure to ``"train"``, ``"val"`` or ``"test"``, by branch.

    The starting structures go to training; then each branch, in a seeded
    order, goes whole to the split that lags its target fraction most.

    Parameters
    ----------
    images
        Augmented structures (see :func:`branches`).
    fractions
        Target train, validation and test fractions (normalised here).
    seed
        Seed of the branch order.
    """
    keys = branches(images)
    sizes = Counter(keys)
    names = sorted(k for k in sizes if not k.endswith(f":{ROOT}"))
    order = np.random.default_rng(seed).permutation(len(names))
    target = np.asarray(fractions, dtype=float) / sum(fractions)
    filled = np.zeros(3)
    split_of = {k: "train" for k in sizes if k.endswith(f":{ROOT}")}
    filled[0] = sum(sizes[k] for k in split_of)
    for index in order:
        key = names[index]
        lag = target * (filled.sum() + sizes[key]) - filled
        choice = int(np.argmax(lag))
        split_of[key] = SPLITS[choice]
        filled[choice] += sizes[key]
    return [split_of[k] for k in keys]


def write_splits(
    images: Sequence[Atoms],
    splits: Sequence[str],
    out: str | os.PathLike,
    prefix: str = "",
    *,
    compression: str | None = "gzip",
) -> dict[str, dict[str, int | str]]:
    """Write ``OUT/PREFIX_{train,val,test}.h5`` and return their sizes.

    Without a prefix the files are ``OUT/{train,val,test}.h5``.

    Each file replaces any older one whole (:func:`asegen.data.write` renames
    a finished file into place), so a kill never leaves half a split.
    """
    from asegen import data

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, int | str]] = {}
    for name in SPLITS:
        chosen = [a for a, s in zip(images, splits, strict=True) if s == name]
        path = out / (f"{prefix}_{name}.h5" if prefix else f"{name}.h5")
        data.write(path, chosen, compression=compression)
        files[name] = {"file": path.name, "structures": len(chosen)}
    return files
