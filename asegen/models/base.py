"""The model contract every asegen model follows, and the model registry.

A model is an ``nn.Module`` whose ``forward(graph)`` takes an
:class:`~asegen.graph.AtomsGraph` and returns a dictionary of tensors. It is
rebuilt from plain data: ``hparams()`` returns a dictionary of numbers,
strings, booleans and lists, and ``from_hparams`` builds an equal model from
it, so checkpoints never contain pickled code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import Tensor, nn

from asegen._config import unknown_key_error
from asegen.graph import AtomsGraph

__all__ = ["MODELS", "AtomisticModel", "register_model"]

#: Model classes by the name stored in checkpoints.
MODELS: dict[str, type[AtomisticModel]] = {}

ModelClass = TypeVar("ModelClass", bound=type["AtomisticModel"])


def register_model(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator: make a model loadable from checkpoints under ``name``."""

    def decorate(cls: ModelClass) -> ModelClass:
        cls.model_name = name
        MODELS[name] = cls
        return cls

    return decorate


class AtomisticModel(nn.Module):
    """Base class: ``forward(graph) -> dict[str, Tensor]``.

    A model that predicts energies returns ``"energy"`` (``(S,)``, eV) and
    ``"energies"`` (``(N,)``, eV per atom, summing to ``"energy"``) and sets
    ``predicts_energy``; forces and stress are derived once by
    :func:`asegen.models.potential.predict`, never by the model itself.
    """

    # plain class attributes (no annotations: TorchScript reads those of modules)
    model_name = ""
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
    def split_config(
        cls, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the ``model`` and ``train`` sections of a run config."""
        for key in data:
            if key not in ("model", "train"):
                raise unknown_key_error(str(key), ["model", "train"], "")
        return dict(data.get("model") or {}), dict(data.get("train") or {})

    def graph_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~asegen.graph.atoms_to_graph` for this model."""
        raise NotImplementedError

    def heads(self) -> dict[str, int]:
        """Output widths of the model's extra heads, by output key.

        ``"atomwise"`` is per atom (``(N, F)``), ``"additional"`` per structure
        (``(S, F)``); the calculator reports and the trainer fits the heads
        listed here. None by default.
        """
        return {}
