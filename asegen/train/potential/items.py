"""Training items of the potential task: one cached graph per structure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from ase import Atoms

from asegen._structures import MIN_DISTANCE, check_atoms, check_separation
from asegen.errors import ConfigError, DataFormatError, StructureError
from asegen.graph import AtomsGraph, atoms_to_graph
from asegen.models.base import Head
from asegen.train.task import Items

__all__ = ["HEADS", "MIN_DISTANCE", "GraphItems", "check_training_atoms", "head_target"]

#: The heads the potential task can fit, and whether each is per atom.
HEADS = {"atomwise": True, "additional": False}


def check_training_atoms(atoms: Atoms, where: str) -> None:
    """Refuse a structure without atoms, with a non-element or with coincident atoms.

    Raises
    ------
    asegen.errors.StructureError
        If ``atoms`` is empty, has an atomic number outside 1 to 118, or two
        atoms closer than :data:`MIN_DISTANCE` (named with ``where``).
    """
    if len(atoms) == 0:
        raise StructureError(f"{where} has no atoms; remove it from the data")
    numbers = atoms.numbers
    bad = np.flatnonzero((numbers < 1) | (numbers > 118))
    if bad.size:
        raise StructureError(
            f"{where} has atomic number {numbers[bad[0]]} (atom {bad[0]}), which is "
            "no element; fix or remove the structure"
        )
    check_separation(atoms, where)


class GraphItems(Items):
    """Single-structure :class:`AtomsGraph` items (float64), built on first use.

    The same graph serves every epoch.

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
        (``"energy"`` means the energy per atom), attached as the structure
        label ``"target"``; ``None`` for potentials.
    heads
        Key of the target of each trained head (``{"atomwise": "charges"}``),
        attached as a label of the head's name (see :func:`head_target`); a
        structure without it is an error.
    name
        What ``structures`` is, for error messages ("training data" or
        "training data (train.xyz)").
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
    ) -> None:
        self.structures = structures
        self.indices = [int(i) for i in indices]
        self.graph_options = graph_options
        self.target = target
        self.heads = dict(heads or {})
        self.name = name
        self._cache: dict[int, AtomsGraph] = {}

    def __len__(self) -> int:
        return len(self.indices)

    def item(self, k: int, epoch: int) -> AtomsGraph:
        """Return the graph of structure ``k`` with its labels (any epoch)."""
        if k in self._cache:
            return self._cache[k]
        atoms = self.atoms(k)
        graph = atoms_to_graph(atoms, **self.graph_options, dtype=torch.float64)
        labels: dict[str, dict[str, torch.Tensor]] = {"atom": {}, "structure": {}}
        for head in self.heads:
            value = torch.from_numpy(self._head_target(k, atoms, head))
            labels["atom" if HEADS[head] else "structure"][head] = value
        if self.target is not None:
            labels["structure"]["target"] = _target(atoms, self.target)
        graph = graph.with_labels(**labels)
        self._cache[k] = graph
        return graph

    def atoms(self, k: int) -> Atoms:
        """Return the ``k``-th structure itself."""
        return self.structures[self.indices[k]]

    def check_heads(self, heads: Mapping[str, Head]) -> None:
        """Read every head target once; raise unless each has the head's width.

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
                if width != heads[head].width:
                    per = "per atom" if HEADS[head] else "per structure"
                    plural = "" if width == 1 else "s"
                    raise ConfigError(
                        f"train.{head}_key {key!r} has {width} component{plural} {per} "
                        f"({self._where(k)}) but model.{head}_output_features is "
                        f"{heads[head].width}; make them equal"
                    )

    def check_structures(self, fitted: Sequence[str], *, labelled: bool) -> None:
        """Check every structure and label before training; raise at the first fault.

        Each structure must pass :func:`~asegen._structures.check_atoms`
        (finite positions and cell, a non-degenerate periodic cell) and
        :func:`check_training_atoms` (atoms of real elements, none on top of
        another). Energy
        and forces, where present, must be finite (the reference energies are
        fitted to them), forces one row of three per atom, and stress, where
        present and in ``fitted``, finite. A graph target (property models)
        and head targets may hold NaN for "unknown" but never infinity.

        Parameters
        ----------
        fitted
            The labels the loss weighs: any of ``"energy"``, ``"forces"``,
            ``"stress"`` (calculator results), ``"target"`` and the heads.
        labelled
            Require at least one finite label of ``fitted`` on some structure
            (a training set, a separate validation set).

        Raises
        ------
        asegen.errors.StructureError
            A structure cannot be used (named with its index).
        asegen.errors.DataFormatError
            A label is not finite or has the wrong shape, or (``labelled``)
            no structure has any label the loss weighs.
        """
        found = False
        for k in range(len(self)):
            atoms = self.atoms(k)
            where = self._where(k)
            check_atoms(atoms, name=where)
            check_training_atoms(atoms, where)
            results = atoms.calc.results if atoms.calc is not None else {}
            labels = {
                key: np.asarray(results[key], dtype=np.float64)
                for key in ("energy", "forces", "stress")
                if results.get(key) is not None and (key != "stress" or key in fitted)
            }
            if "forces" in labels and labels["forces"].shape != (len(atoms), 3):
                raise DataFormatError(
                    f"{where} has forces of shape {labels['forces'].shape}, not "
                    f"({len(atoms)}, 3); give one force per atom"
                )
            for key, value in labels.items():
                if not np.isfinite(value).all():
                    raise DataFormatError(
                        f"{where} has a non-finite {key} label; fix or remove "
                        f"the structure (a missing {key} is simply left out)"
                    )
                found = found or key in fitted
            extra = {head: self._head_target(k, atoms, head) for head in self.heads}
            if self.target is not None:
                extra["target"] = _target(atoms, self.target).numpy()
            for key, value in extra.items():
                if np.isinf(value).any():
                    raise DataFormatError(
                        f"{where} has an infinite {key} value; give finite values "
                        "(NaN marks an unknown one)"
                    )
                found = found or (key in fitted and bool(np.isfinite(value).any()))
        if labelled and not found:
            raise DataFormatError(
                f"the {self.name} has no finite {' or '.join(fitted) or 'label'} "
                f"label on any of its {len(self)} structures, so there is "
                "nothing to fit; label the structures or set train.weights to "
                "the labels they have"
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
    per_atom = HEADS[head]
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
            f"({len(atoms)}); train.{head}_key must name a per-atom array"
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
