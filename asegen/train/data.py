"""Training data: reading structures, splitting them, serving graphs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms

from asegen.errors import ConfigError, DataFormatError, InputNotFoundError
from asegen.graph import AtomsGraph, atoms_to_graph
from asegen.train.config import TrainConfig

__all__ = ["GraphDataset", "load_structures", "split_indices"]


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
        cache: bool = True,
    ) -> None:
        self.structures = structures
        self.indices = [int(i) for i in indices]
        self.graph_options = graph_options
        self.target = target
        self._cache: dict[int, AtomsGraph] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> AtomsGraph:
        if self._cache is not None and k in self._cache:
            return self._cache[k]
        atoms = self.structures[self.indices[k]]
        graph = atoms_to_graph(atoms, **self.graph_options, dtype=torch.float64)
        if self.target is not None:
            graph = graph.replace(target=_target(atoms, self.target))
        if self._cache is not None:
            self._cache[k] = graph
        return graph

    def atoms(self, k: int) -> Atoms:
        """Return the ``k``-th structure itself."""
        return self.structures[self.indices[k]]


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
