"""Training data: reading structures, splitting them, serving graphs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms

from asegen.errors import ConfigError, DataFormatError, InputNotFoundError
from asegen.graph import AtomsGraph, atoms_to_graph
from asegen.models.base import AtomisticModel
from asegen.train.config import TrainConfig

__all__ = [
    "HEADS",
    "GraphDataset",
    "head_target",
    "load_structures",
    "make_datasets",
    "split_indices",
]

#: Extra output heads with their own targets: per atom, and per structure.
HEADS = ("atomwise", "additional")


def load_structures(path: str | os.PathLike) -> Sequence[Atoms]:
    """Open training structures.

    asegen HDF5 files are read lazily; an alignn training folder
    (``id_prop.json`` or ``id_prop.csv`` with structure files) and any
    ASE-readable file are read whole.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"data file {path} does not exist")
    if path.suffix in (".h5", ".hdf5"):
        from asegen.data import H5Dataset

        return H5Dataset(path)
    if path.is_dir():
        from asegen.data._alignn import read_alignn_folder

        images = read_alignn_folder(path)
        if not images:
            raise DataFormatError(f"{path} holds no structures")
        return images
    from ase.io import read

    try:
        images = read(path, index=":")
    except Exception as err:  # ase.io raises many types for unreadable files
        raise DataFormatError(
            f"cannot read structures from {path} ({type(err).__name__}: {err}); "
            "pass an extxyz, ASE db or asegen HDF5 file"
        ) from None
    if not images:
        raise DataFormatError(f"{path} holds no structures")
    return images


def split_indices(
    n: int, config: TrainConfig, *, with_val: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``range(n)`` into train, validation and test indices.

    Counts (``n_train``, ``n_val``, ``n_test``) override ratios. Without
    ``keep_data_order`` the order is a seeded shuffle. Training takes the
    first structures, the test set the last ones, validation those just
    before the test set. With ``with_val`` (a separate validation file) no
    validation structures are taken from ``n``.
    """
    n_test = config.n_test if config.n_test is not None else int(config.test_ratio * n)
    n_val = (
        0
        if with_val
        else (config.n_val if config.n_val is not None else int(config.val_ratio * n))
    )
    n_train = config.n_train if config.n_train is not None else n - n_val - n_test
    if n_train < 1 or n_train + n_val + n_test > n:
        raise ConfigError(
            f"cannot split {n} structures into {n_train} train, {n_val} validation "
            f"and {n_test} test; change the ratios or counts in the train section"
        )
    order = np.arange(n)
    if not config.keep_data_order:
        order = np.random.default_rng(config.seed).permutation(n)
    test = order[n - n_test :]
    val = order[n - n_test - n_val : n - n_test]
    return order[:n_train], val, test


def make_datasets(
    model: AtomisticModel,
    config: TrainConfig,
    structures: Sequence[Atoms],
    val_structures: Sequence[Atoms] | None,
) -> tuple[GraphDataset, GraphDataset, GraphDataset]:
    """Split the data into train, validation and test sets with their labels.

    Targets of trained heads are read and checked once here, so a missing or
    misshaped one stops the run before it starts.
    """
    train_idx, val_idx, test_idx = split_indices(
        len(structures), config, with_val=val_structures is not None
    )
    widths = model.heads()
    labels: dict[str, Any] = {
        "target": None if model.predicts_energy else config.target,
        "heads": _trained_heads(config, widths),
    }
    options = model.graph_options()
    train_set = GraphDataset(structures, train_idx, options, **labels)
    if val_structures is None:
        val_set = GraphDataset(structures, val_idx, options, **labels)
    else:
        every = range(len(val_structures))
        val_set = GraphDataset(
            val_structures, every, options, name="validation data", **labels
        )
    test_set = GraphDataset(structures, test_idx, options, **labels)
    if labels["heads"]:
        for dataset in (train_set, val_set, test_set):
            dataset.check_heads(widths)
    return train_set, val_set, test_set


def _trained_heads(config: TrainConfig, widths: dict[str, int]) -> dict[str, str]:
    """Map each head with a non-zero loss weight to the key of its target."""
    heads = {}
    for head in HEADS:
        weight = getattr(config.weights, head)
        if weight == 0:
            continue
        if head not in widths:
            raise ConfigError(
                f"train.weights.{head} is {weight} but the model has no {head} "
                f"head; set model.{head}_output_features or the weight to 0"
            )
        heads[head] = getattr(config, f"{head}_key")
    return heads


class GraphDataset(torch.utils.data.Dataset):
    """Single-structure :class:`AtomsGraph` items (float64), built on first use.

    Parameters
    ----------
    structures
        Any sequence of ``Atoms`` (a list, an :class:`asegen.data.H5Dataset`).
    indices
        Which structures of ``structures`` this dataset serves.
    graph_options
        Keyword arguments of :func:`~asegen.graph.atoms_to_graph`.
    target
        For property models: the ``info`` key of the graph-level target
        (``"energy"`` means the energy per atom), attached as ``graph.target``;
        ``None`` for potentials.
    heads
        Key of the target of each trained head (``{"atomwise": "charges"}``),
        attached as ``graph.atomwise`` and ``graph.additional`` (see
        :func:`head_target`); a structure without it is an error.
    name
        What ``structures`` is, for error messages ("training data").
    cache
        Keep built graphs (per process) for later epochs.
    """

    def __init__(
        self,
        structures: Sequence[Atoms],
        indices: Sequence[int],
        graph_options: dict[str, Any],
        *,
        target: str | None = None,
        heads: Mapping[str, str] | None = None,
        name: str = "training data",
        cache: bool = True,
    ) -> None:
        self.structures = structures
        self.indices = [int(i) for i in indices]
        self.graph_options = graph_options
        self.target = target
        self.heads = dict(heads or {})
        self.name = name
        self._cache: dict[int, AtomsGraph] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> AtomsGraph:
        if self._cache is not None and k in self._cache:
            return self._cache[k]
        atoms = self.structures[self.indices[k]]
        graph = atoms_to_graph(atoms, **self.graph_options, dtype=torch.float64)
        labels = {
            head: torch.from_numpy(self._head_target(k, atoms, head))
            for head in self.heads
        }
        if self.target is not None:
            labels["target"] = _target(atoms, self.target)
        if labels:
            graph = graph.replace(**labels)
        if self._cache is not None:
            self._cache[k] = graph
        return graph

    def atoms(self, k: int) -> Atoms:
        """Return the ``k``-th structure itself."""
        return self.structures[self.indices[k]]

    def check_heads(self, widths: Mapping[str, int]) -> None:
        """Read every head target once; raise unless each has ``widths[head]`` values.

        Raises
        ------
        asegen.errors.DataFormatError
            A structure lacks a target, or it is not numeric or not per atom.
        asegen.errors.ConfigError
            A target's width differs from the model's head (both are named).
        """
        for k in range(len(self)):
            atoms = self.atoms(k)
            for head, key in self.heads.items():
                width = self._head_target(k, atoms, head).shape[1]
                if width != widths[head]:
                    per = "per atom" if head == "atomwise" else "per structure"
                    plural = "" if width == 1 else "s"
                    raise ConfigError(
                        f"train.{head}_key {key!r} has {width} component{plural} {per} "
                        f"({self._where(k)}) but model.{head}_output_features is "
                        f"{widths[head]}; make them equal"
                    )

    def _head_target(self, k: int, atoms: Atoms, head: str) -> np.ndarray:
        return head_target(atoms, head, self.heads[head], self._where(k))

    def _where(self, k: int) -> str:
        return f"structure {self.indices[k]} of the {self.name}"


def head_target(atoms: Atoms, head: str, key: str, where: str) -> np.ndarray:
    """Return the float64 target of ``head`` (one of :data:`HEADS`) on ``atoms``.

    ``"atomwise"`` reads ``atoms.arrays[key]`` or else the calculator result
    ``key`` and returns ``(N, F)``; ``"additional"`` reads ``atoms.info[key]``
    or else the calculator result and returns ``(1, F)``. ``where`` names the
    structure in error messages.

    Raises
    ------
    asegen.errors.DataFormatError
        The key is missing, not numeric, or (atomwise) not one row per atom.
    """
    per_atom = head == "atomwise"
    results = atoms.calc.results if atoms.calc is not None else {}
    value = (atoms.arrays if per_atom else atoms.info).get(key, results.get(key))
    if value is None:
        place = "atoms.arrays" if per_atom else "atoms.info"
        raise DataFormatError(
            f"{where} has no {key!r} in {place} or its calculator results, which "
            f"train.weights.{head} > 0 needs on every structure; label every "
            f"structure or change train.{head}_key"
        )
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataFormatError(
            f"{where}: {key!r} is not a number or array of numbers; "
            f"train.{head}_key must name numeric values"
        ) from None
    if not per_atom:
        return array.reshape(1, array.size)
    if array.ndim == 0 or array.shape[0] != len(atoms):
        raise DataFormatError(
            f"{where}: {key!r} has shape {array.shape}, not one row per atom "
            f"({len(atoms)}); train.atomwise_key must name a per-atom array"
        )
    return array.reshape(len(atoms), int(np.prod(array.shape[1:])))


def _target(atoms: Atoms, key: str) -> torch.Tensor:
    """Return the ``(1, k)`` graph-level target of ``atoms`` (NaN if missing)."""
    if key == "energy":
        results = atoms.calc.results if atoms.calc is not None else {}
        value = results.get("energy", float("nan")) / len(atoms)
    else:
        value = atoms.info.get(key, float("nan"))
    try:
        return torch.as_tensor(value, dtype=torch.float64).reshape(1, -1)
    except (TypeError, ValueError):
        raise DataFormatError(
            f"info[{key!r}] = {value!r} is not a number or list of numbers; "
            "set train.target to a numeric info key"
        ) from None
