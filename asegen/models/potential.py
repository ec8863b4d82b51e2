"""Forces and stress of an energy model, by one backward pass.

:func:`forces_and_stress` turns the gradient of an energy into forces and
stress on plain tensors; it compiles with TorchScript, so :func:`predict` (on
an :class:`~asegen.graph.AtomsGraph`) and the exported potential of
:mod:`asegen.models.export` (one structure as tensors) share it, as they share
:func:`asegen.graph.geometry.strain_positions_and_cell` for the strain.
"""

from __future__ import annotations

import torch
from torch import Tensor

from asegen.graph import AtomsGraph, apply_strain, cell_volume
from asegen.models.base import AtomisticModel

__all__ = ["forces_and_stress", "predict"]


def forces_and_stress(
    energy: Tensor,
    positions: Tensor | None,
    strain: Tensor | None,
    cell: Tensor,
    pbc: Tensor,
    create_graph: bool = False,
) -> tuple[Tensor | None, Tensor | None]:
    """Differentiate ``energy`` into forces and stress.

    Parameters
    ----------
    energy
        Energy of every structure (eV), any shape; its sum is differentiated.
    positions
        ``(N, 3)`` positions the energy was computed from, requiring grad, or
        ``None`` for no forces.
    strain
        ``(S, 3, 3)`` (or ``(3, 3)`` for one structure) zero strain applied
        with :func:`asegen.graph.geometry.strain_positions_and_cell`,
        requiring grad, or ``None`` for no stress.
    cell
        The unstrained cells, shaped like ``strain``, in Å.
    pbc
        ``(S, 3)`` (or ``(3,)``) periodicity of every structure.
    create_graph
        Keep the graph of the derivatives for a second backward pass.
        At least one of ``positions`` and ``strain`` must be given.

    Returns
    -------
    forces : torch.Tensor or None
        ``-dE/dpositions``, ``(N, 3)``, in eV/Å.
    stress : torch.Tensor or None
        ``(1/V) dE/dstrain``, shaped like ``cell``, in eV/Å³ with ASE's sign;
        NaN for a structure that is not periodic along all three axes or has
        zero cell volume.
    """
    inputs: list[Tensor] = []
    if positions is not None:
        inputs.append(positions)
    if strain is not None:
        inputs.append(strain)
    grads = torch.autograd.grad(
        [energy.sum()], inputs, create_graph=create_graph, allow_unused=True
    )
    derivatives: list[Tensor] = []
    for k, x in enumerate(inputs):
        grad = grads[k]
        derivatives.append(torch.zeros_like(x) if grad is None else grad)
    forces: Tensor | None = None
    if positions is not None:
        forces = -derivatives[0]  # (N, 3)
    stress: Tensor | None = None
    if strain is not None:
        volume = cell_volume(cell)  # (S,)
        periodic = pbc.all(dim=-1) & (volume > 0)  # (S,)
        safe = torch.where(periodic, volume, torch.ones_like(volume))  # (S,)
        virial = derivatives[-1] / safe[..., None, None]  # (S, 3, 3)
        stress = torch.where(periodic[..., None, None], virial, torch.nan)
    return forces, stress


def predict(
    model: AtomisticModel,
    graph: AtomsGraph,
    *,
    forces: bool = True,
    stress: bool = False,
    create_graph: bool | None = None,
) -> dict[str, Tensor]:
    """Evaluate ``model`` and derive forces and stress from its energy.

    One forward pass and (for forces or stress) one backward pass through a
    zero strain: ``forces = -dE/dpositions`` (eV/Å) and
    ``stress = (1/V) dE/dstrain`` (eV/Å³, ASE's sign, ``(S, 3, 3)``), by
    :func:`forces_and_stress`.

    Parameters
    ----------
    model
        A model with ``predicts_energy``.
    graph
        The batch.
    forces, stress
        Which derivatives to compute. Stress is NaN for structures that are
        not periodic along all three axes or have zero cell volume.
    create_graph
        Keep the graph of the derivatives for a second backward pass (needed
        when forces enter a training loss). Default: ``model.training``.

    Returns
    -------
    dict[str, torch.Tensor]
        The model's outputs plus ``"forces"`` (``(N, 3)``) and ``"stress"``.
    """
    if not model.predicts_energy:
        raise ValueError(f"{type(model).__name__} does not predict an energy")
    if create_graph is None:
        create_graph = model.training
    if not (forces or stress):
        return model(graph)
    with torch.enable_grad():
        positions = graph.positions.detach().requires_grad_(forces)  # (N, 3)
        strained = graph.replace(positions=positions)
        strain = None
        if stress:
            strain = torch.zeros_like(graph.cell, requires_grad=True)  # (S, 3, 3)
            strained = apply_strain(strained, strain)
        out = model(strained)
        derived = forces_and_stress(
            out["energy"],
            positions if forces else None,
            strain,
            graph.cell,
            graph.pbc,
            create_graph,
        )
    for key, value in zip(("forces", "stress"), derived, strict=True):
        if value is not None:
            out[key] = value
    if not create_graph:
        out = {key: value.detach() for key, value in out.items()}
    return out
