"""TorchScript export of energy models for non-Python hosts (LAMMPS, C++).

The exported module takes one structure as plain tensors and returns energy,
per-atom energies, forces and (optionally) stress, in eV, Å, eV/Å and eV/Å³
(ASE's sign)::

    module = torch.jit.load("model.pt")
    out = module(positions, cell, numbers, edge_index, shifts, compute_stress)

``edge_index`` and ``shifts`` are the model's graph: every directed pair
within ``cutoff`` (the K nearest per atom when the model sets
``max_neighbors``), with ``pos[j] - pos[i] + shifts @ cell`` the pair vector,
as :func:`asegen.graph.neighbor_list` builds it. The cutoff and the model's
settings travel in the file's extra files ``metadata.json``.
"""

from __future__ import annotations

import json
import os
import warnings

import torch
from torch import Tensor, nn

from asegen._version import __version__
from asegen.models.alignn import ALIGNN

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
    ) -> dict[str, Tensor]:
        """Return ``energy`` (0-d), ``energies``, ``forces`` and ``stress`` (3, 3)."""
        positions = positions.detach().requires_grad_(True)
        strain = torch.zeros_like(cell).requires_grad_(compute_stress)
        sym = 0.5 * (strain + strain.transpose(0, 1))
        pos = positions + positions @ sym
        box = cell + cell @ sym
        i, j = edge_index[0], edge_index[1]
        vectors = pos[j] - pos[i] + shifts.to(box.dtype) @ box
        atoms = torch.full_like(numbers, numbers.shape[0])
        energies = self.model.atom_energies(numbers, vectors, edge_index, shifts, atoms)
        energy = energies.sum()
        inputs = [positions, strain] if compute_stress else [positions]
        grads = torch.autograd.grad([energy], inputs, allow_unused=True)
        dpos = grads[0]
        forces = -dpos if dpos is not None else torch.zeros_like(positions)
        stress = torch.zeros_like(cell)
        if compute_stress:
            dstrain = grads[1]
            if dstrain is not None:
                stress = dstrain / torch.linalg.det(cell).abs()
        return {
            "energy": energy.detach(),
            "energies": energies.detach(),
            "forces": forces.detach(),
            "stress": stress.detach(),
        }


def export_torchscript(model: ALIGNN, path: str | os.PathLike) -> None:
    """Compile ``model`` with TorchScript and save it with its metadata."""
    if not model.predicts_energy:
        raise ValueError("only energy models (force fields) can be exported")
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
        "dtype": str(dtype).removeprefix("torch."),
        "units": {"energy": "eV", "length": "Å", "stress": "eV/Å^3"},
        "config": model.hparams()["config"],
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit", DeprecationWarning)
        torch.jit.save(
            scripted,
            os.fspath(path),
            _extra_files={"metadata.json": json.dumps(metadata)},
        )
