"""The model contract every asegen model follows, and the model registry.

A model is an ``nn.Module`` whose ``forward(graph)`` takes an
:class:`~asegen.graph.AtomsGraph` and returns a dictionary of tensors. It is
rebuilt from plain data: ``hparams()`` returns a dictionary of numbers,
strings, booleans and lists, and ``from_hparams`` builds an equal model from
it, so checkpoints never contain pickled code. Each model names the training
task that teaches it (``task``, a name registered with
:func:`asegen.train.register_task`); models never import the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from torch import Tensor, nn

from asegen._registry import registrar
from asegen.graph import AtomsGraph

__all__ = ["MODELS", "AtomisticModel", "Head", "register_model"]

#: Model classes by the name stored in checkpoints.
MODELS: dict[str, type[AtomisticModel]] = {}

ModelClass = TypeVar("ModelClass", bound=type["AtomisticModel"])


def register_model(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator: make a model loadable from checkpoints under ``name``."""
    return registrar(MODELS, "model_name", name)


@dataclass(frozen=True)
class Head:
    """An extra output of a model: ``width`` values per atom or per structure."""

    per_atom: bool
    width: int


class AtomisticModel(nn.Module):
    """Base class: ``forward(graph) -> dict[str, Tensor]``.

    A model that predicts energies returns ``"energy"`` (``(S,)``, eV) and
    ``"energies"`` (``(N,)``, eV per atom, summing to ``"energy"``) and sets
    ``predicts_energy``; forces and stress are derived once by
    :func:`asegen.models.potential.predict`, never by the model itself.

    Attributes
    ----------
    model_name
        The name the model is registered and stored under.
    task
        The name of the training task that teaches the model.
    predicts_energy
        Whether ``forward`` returns ``"energy"`` and ``"energies"``.
    """

    # plain class attributes (no annotations: TorchScript reads those of modules)
    model_name = ""
    task = ""
    predicts_energy = False

    def forward(self, graph: AtomsGraph) -> dict[str, Tensor]:
        """Return the model's outputs for a batch."""
        raise NotImplementedError

    def hparams(self) -> dict[str, Any]:
        """Return plain data from which :meth:`from_hparams` rebuilds the model."""
        raise NotImplementedError

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> AtomisticModel:
        """Build an untrained model from :meth:`hparams` output."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> AtomisticModel:
        """Build a new model from the ``model`` section of a run config (strictly)."""
        raise NotImplementedError

    @classmethod
    def split_config(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Return the sections of a run config (``model``, ``train``, ...).

        The engine checks them; a model that also reads another program's
        config files (ALIGNN: alignn's ``config.json``) translates them here.
        """
        return dict(data)

    def graph_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~asegen.graph.atoms_to_graph` for this model."""
        raise NotImplementedError

    def heads(self) -> dict[str, Head]:
        """Return the model's extra outputs by output key (none by default).

        A per-atom head returns ``(N, width)``, a per-structure head
        ``(S, width)``; calculators report the heads listed here as results
        of the same evaluation, and training tasks may fit them.
        """
        return {}

    def normalisation(self) -> dict[str, Any]:
        """Plain-data statistics fitted to the training data (``{}`` by default).

        Written to ``hparams.yaml`` for people to read; the weights carry
        them for the model itself.
        """
        return {}

    def set_energy_reference(self, reference: np.ndarray, scale: float) -> None:
        """Set per-element reference energies and the energy scale.

        Energy models that learn a residual over a composition-linear
        baseline implement it: ``reference`` holds one energy per atomic
        number (``(119,)``, eV) and ``scale`` the typical size of the rest.

        Raises
        ------
        NotImplementedError
            For models without such a baseline.
        """
        raise NotImplementedError(f"{type(self).__name__} has no energy reference")
