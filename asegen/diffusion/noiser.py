"""The contract of a noiser: one field of a structure, noised and denoised.

A diffusion model owns one noiser per field it generates: ``"positions"``,
``"types"`` and ``"cell"``. The score network has one head per field, of the
same name; a noiser and a head are matched by that key.

Structures travel as :class:`~asegen.graph.AtomsGraph` batches (edges may be
stale while a sampler moves atoms; the sampler refreshes them). The
diffusion time of each structure is the structure label ``"t"`` (``(S, 1)``);
atoms with ``graph.fixed`` (``FixAtoms`` in training data, the template at
sampling) are never noised, never moved and never re-typed, and take no part
in any loss. A noiser puts its training targets on the graph as labels whose
names start with its field (``"positions_target"``, ...).

Every method draws randomness from the ``torch.Generator`` it is given, so
items and samples depend only on their seeds.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from asegen.graph import AtomsGraph

__all__ = ["TIME", "Noiser", "mobile", "times"]

#: The structure label holding each structure's diffusion time, ``(S, 1)``.
TIME = "t"


def times(graph: AtomsGraph) -> Tensor:
    """Return the ``(S,)`` diffusion times of ``graph``'s structures."""
    return graph.structure_labels[TIME][:, 0]


def mobile(graph: AtomsGraph) -> Tensor:
    """Return the ``(N,)`` mask of atoms that diffusion may change."""
    return ~graph.fixed


class Noiser:
    """One field's forward process, training loss and reverse steps.

    Subclasses set :attr:`field` and implement every method; the time
    grid, the network calls and guidance belong to the sampler.
    """

    field: ClassVar[str] = ""

    def corrupt(
        self, graph: AtomsGraph, t: Tensor, generator: torch.Generator
    ) -> AtomsGraph:
        """Noise the field to times ``t`` (``(S,)``) and attach training targets.

        The returned graph holds the noised field (mobile atoms only) and the
        labels :meth:`loss` reads; edges are rebuilt by the caller.
        """
        raise NotImplementedError

    def loss(self, output: Tensor, graph: AtomsGraph) -> Tensor:
        """Return the mean loss of the head ``output`` against the targets."""
        raise NotImplementedError

    def prior(self, graph: AtomsGraph, generator: torch.Generator) -> AtomsGraph:
        """Draw the field of every mobile atom (or structure) from the prior."""
        raise NotImplementedError

    def step(
        self,
        graph: AtomsGraph,
        output: Tensor,
        t: float,
        dt: float,
        generator: torch.Generator,
        *,
        last: bool,
    ) -> AtomsGraph:
        """Move the field from time ``t`` to ``t - dt`` (one predictor step).

        ``last`` marks the final step, which adds no noise (and, for types,
        leaves no atom masked).
        """
        raise NotImplementedError

    def correct(
        self,
        graph: AtomsGraph,
        output: Tensor,
        t: float,
        generator: torch.Generator,
        dt: float,
    ) -> AtomsGraph:
        """One corrector step at time ``t`` (none by default).

        ``dt`` is the step of the time grid, which bounds the step size.
        """
        return graph

    def hparams(self) -> dict[str, Any]:
        """Return plain data from which the noiser is rebuilt (``kind`` included)."""
        raise NotImplementedError
