"""``ALIGNNCalculator``: an ALIGNN force field as an ASE calculator."""

from __future__ import annotations

import os
from typing import Any

import torch

from asegen.calculators.base import CALCULATORS, TorchCalculator
from asegen.errors import DataFormatError
from asegen.models.alignn import ALIGNN, load_alignn_run
from asegen.models.checkpoint import load_checkpoint

__all__ = ["ALIGNNCalculator"]


class ALIGNNCalculator(TorchCalculator):
    """ASE calculator for an :class:`~asegen.models.alignn.ALIGNN` force field.

    ``atoms.calc = ALIGNNCalculator.load(path)`` and then any ASE optimizer,
    MD integrator or cell filter. Energy, free energy, per-atom energies,
    forces and (3-D periodic cells) stress come from one evaluation per
    geometry; ``calculate_batch`` evaluates many structures per model call.

    Parameters
    ----------
    model
        The network.
    **kwargs
        ``device``, ``dtype``, ``skin``, ``neighbors``,
        ``allow_unknown_elements`` and ASE options; see
        :class:`~asegen.calculators.base.TorchCalculator`.
    """

    def __init__(self, model: ALIGNN, **kwargs: Any) -> None:
        if not isinstance(model, ALIGNN):
            raise TypeError(f"expected an ALIGNN model, got {type(model).__name__}")
        super().__init__(model, **kwargs)
        # alignn's cutoff_extra fallback (models translated from k-nearest or
        # radius_graph configs) is a neighbour-search option of the model
        extra = model.graph_options().get("cutoff_extra")
        for search in (self._neighbors, self._batch_neighbors):
            search.cutoff_extra = extra

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        device: str | torch.device = "auto",
        dtype: torch.dtype | str | None = None,
        **kwargs: Any,
    ) -> ALIGNNCalculator:
        """Load a trained model from a run directory or a checkpoint file.

        Parameters
        ----------
        path
            ``logs/version_N`` (its best checkpoint is used) or a ``.pt`` file.
        device
            ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:0"``, ...
        dtype
            ``"float64"`` for derivative checks (a torch or numpy dtype works
            too); default: the run's, float32.
        **kwargs
            Further :class:`TorchCalculator` options (``skin``, ``neighbors``,
            ``allow_unknown_elements``).
        """
        model, _ = load_checkpoint(path)
        if not isinstance(model, ALIGNN):
            raise DataFormatError(f"{path} holds a {type(model).__name__}, not ALIGNN")
        return cls(model, device=device, dtype=dtype, **kwargs)

    @classmethod
    def from_alignn(
        cls,
        path: str | os.PathLike,
        *,
        device: str | torch.device = "auto",
        dtype: torch.dtype | str | None = None,
        **kwargs: Any,
    ) -> ALIGNNCalculator:
        """Load an alignn run directory (``config.json`` + ``best_model.pt``).

        Reproduces alignn's ``alignn_atomwise_pure`` / ``alignn_atomwise``
        models with ``neighbor_strategy: pure_torch``, including their graph
        settings (nearest-K cut, three-body cutoff, penalty, ZBL). One
        deliberate difference: the short-distance penalty is part of the
        reported energy (alignn includes it in forces only). A run trained
        on one of alignn's DGL graphs (``k-nearest``, ``fast_graph``, ...)
        loads with asegen's graph for its strategy and a one-line notice on
        stderr naming the difference.
        """
        model, training = load_alignn_run(path)
        if dtype is None:
            dtype = training["dtype"]
        return cls(model, device=device, dtype=dtype, **kwargs)


CALCULATORS["alignn"] = ALIGNNCalculator
