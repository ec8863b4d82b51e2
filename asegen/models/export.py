"""TorchScript export of energy models for non-Python hosts (LAMMPS, C++).

The exported module takes one structure as plain tensors and returns energy,
per-atom energies, forces and (optionally) stress, in eV, Å, eV/Å and eV/Å³
(ASE's sign)::

    module = torch.jit.load("model.pt")
    out = module(positions, cell, numbers, edge_index, shifts, compute_stress)
    out = module(positions, cell, numbers, edge_index, shifts, True, pbc)

``edge_index`` and ``shifts`` are the model's graph: every directed pair
within ``cutoff`` (the K nearest per atom when the model sets
``max_neighbors``), with ``pos[j] - pos[i] + shifts @ cell`` the pair vector,
as :func:`asegen.graph.neighbor_list` builds it. The cutoff and the model's
settings travel in the file's extra files ``metadata.json``.

Stress is defined for a structure periodic along all three axes: with
``compute_stress`` it is NaN when the cell has zero volume (a molecule with a
zero cell) or when the optional ``(3,)`` bool input ``pbc`` is given and not
all true (a molecule or slab in a box); without ``pbc`` a cell of non-zero
volume counts as periodic. Without ``compute_stress`` the stress is zeros and
means nothing. Forces and stress come from the same functions as
:func:`asegen.models.potential.predict`
(:func:`asegen.models.potential.forces_and_stress`
and :func:`asegen.graph.geometry.strain_positions_and_cell`), so the module
reproduces the Python calculator.
"""

from __future__ import annotations

import json
import os
import warnings

import torch
from torch import Tensor, nn

from asegen._units import UNITS
from asegen._version import __version__
from asegen.errors import ConfigError
from asegen.graph.geometry import strain_positions_and_cell
from asegen.models.alignn import ALIGNN
from asegen.models.potential import forces_and_stress

__all__ = ["ExportedPotential", "export_torchscript"]


class ExportedPotential(nn.Module):
    """One-structure wrapper with forces and stress by autograd, for TorchScript."""

    def __init__(self, model: ALIGNN) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        positions: Tensor,
        cell: Tensor,
        numbers: Tensor,
        edge_index: Tensor,
        shifts: Tensor,
        compute_stress: bool,
        pbc: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Return ``energy`` (0-d), ``energies``, ``forces`` and ``stress`` (3, 3).

        ``pbc`` is the optional ``(3,)`` periodicity; see the module docstring
        for when the stress is NaN.
        """
        positions = positions.detach().requires_grad_(True)  # (N, 3)
        strain: Tensor | None = None
        pos, box = positions, cell
        if compute_stress:
            strain = torch.zeros_like(cell).requires_grad_(True)  # (3, 3)
            batch = torch.zeros_like(numbers)  # (N,)
            pos, boxes = strain_positions_and_cell(
                positions, cell[None], strain[None], batch
            )
            box = boxes[0]  # (3, 3)
        i, j = edge_index[0], edge_index[1]
        vectors = pos[j] - pos[i] + shifts.to(box.dtype) @ box  # (E, 3)
        atoms = torch.full_like(numbers, numbers.shape[0])
        energies = self.model.atom_energies(numbers, vectors, edge_index, shifts, atoms)
        energy = energies.sum()
        if pbc is None:
            pbc = torch.ones(3, dtype=torch.bool, device=cell.device)
        forces, stress = forces_and_stress(energy, positions, strain, cell, pbc)
        assert forces is not None  # positions were differentiated
        if stress is None:
            stress = torch.zeros_like(cell)
        return {
            "energy": energy.detach(),
            "energies": energies.detach(),
            "forces": forces.detach(),
            "stress": stress.detach(),
        }


def export_torchscript(model: ALIGNN, path: str | os.PathLike) -> None:
    """Compile ``model`` with TorchScript and save it with its metadata.

    Raises
    ------
    asegen.errors.ConfigError
        If ``model`` does not predict an energy (a property or diffusion model).
    """
    if not getattr(model, "predicts_energy", False):
        raise ConfigError(
            f"a {model.model_name} model cannot be exported; only energy models "
            "(force fields) can"
        )
    with warnings.catch_warnings():
        # torch >= 2.10 marks TorchScript deprecated; it is still what LAMMPS
        # plugins and C++ hosts load, so asegen keeps exporting it.
        warnings.filterwarnings("ignore", r"`torch\.jit", DeprecationWarning)
        scripted = torch.jit.script(ExportedPotential(model.eval()))
    dtype = next(model.parameters()).dtype
    metadata = {
        "asegen_version": __version__,
        "model_class": model.model_name,
        "cutoff": model.config.cutoff,
        "max_neighbors": model.config.max_neighbors,
        "cutoff_extra": model.config.cutoff_extra,
        "dtype": str(dtype).removeprefix("torch."),
        "units": dict(UNITS),
        "config": model.hparams()["config"],
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit", DeprecationWarning)
        torch.jit.save(
            scripted,
            os.fspath(path),
            _extra_files={"metadata.json": json.dumps(metadata)},
        )
