"""An ASE calculator around any asegen energy model.

One model evaluation per geometry: whatever property ASE asks for, energy,
free energy, per-atom energies, forces and (for 3-D periodic cells) stress are
computed in one forward and one backward pass and stored in ``results``, so
``get_potential_energy(); get_forces(); get_stress()`` costs one call and
re-reading costs none. Inference never builds a double-backward graph.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from torch import Tensor

from asegen._config import check_choice, check_int
from asegen._structures import check_separation
from asegen.calculators._blas import hold_blas_threads, pool_variable_set
from asegen.errors import StructureError
from asegen.graph import SkinNeighborList, atoms_to_graph
from asegen.graph.units import full_to_voigt
from asegen.models.base import AtomisticModel
from asegen.models.checkpoint import trained_elements
from asegen.models.options import resolve_device, resolve_dtype
from asegen.models.potential import predict

__all__ = ["SMALL_ATOMS", "TorchCalculator", "calculator_for", "resolve_device"]

#: Evaluations of fewer atoms run with one torch thread by default (CPU) and
#: hold numpy's BLAS pools at one thread.
SMALL_ATOMS = 128


class TorchCalculator(Calculator):
    """ASE calculator for an asegen model that predicts energy.

    The model's extra heads (:meth:`AtomisticModel.heads`) are results too,
    from the same evaluation, under their own names: ``(N, F)`` for a
    per-atom head, ``(F,)`` for a per-structure head; ALIGNN's are
    ``"atomwise"`` and ``"additional"``, read with
    ``calc.get_property("atomwise", atoms)``.

    A structure with two atoms closer than 0.1 Å (coincident atoms: no real
    structure, and the model's prediction there is meaningless, ~1e11 eV) is
    refused with a :class:`StructureError` naming the two atoms; the check
    reuses the pairs of the neighbour search.

    Parameters
    ----------
    model
        The energy model; it is put in eval mode.
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
    dtype
        ``"float32"`` or ``"float64"`` (or a torch/numpy dtype) for model and
        inputs (default: the model's).
    skin
        Neighbour-list skin in Å: the list is searched within
        ``cutoff + skin`` and reused until an atom moved more than ``skin/2``
        (0 searches on every call).
    neighbors
        Neighbour search: ``"matscipy"`` (compiled, on the CPU), ``"torch"``
        (:func:`~asegen.graph.torch_neighbor_list` on the model's device, so
        the graph of a large system is built on the GPU) or ``"auto"``
        (torch when the model runs on CUDA, else matscipy). Both give the
        same pairs.
    threads
        torch threads of an evaluation on the CPU, restored afterwards:
        ``"auto"`` (default) uses one thread for evaluations of fewer than
        :data:`SMALL_ATOMS` atoms and torch's setting for larger ones; an
        integer uses that many for every evaluation; ``None`` leaves torch's
        setting alone. Small cells gain little from threads, and on a busy
        machine every parallel region waits for a thread that lost its core:
        a BFGS + cell-filter relaxation of 32 atoms ran 2x faster with one
        torch thread (benchmarks/alignn/threads.py, docs/benchmarks.md).
    blas_threads
        Threads of numpy's and scipy's BLAS pools (OpenBLAS), which ASE's
        optimizers and cell filters use between evaluations: ``"auto"``
        (default) holds them at one thread from an evaluation of fewer than
        :data:`SMALL_ATOMS` atoms on, until the calculator is deleted or
        evaluates a larger structure, and the pools' own setting then comes
        back; an integer holds them at that many for every evaluation;
        ``None`` leaves them alone, as does ``"auto"`` when one of
        ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` or
        ``BLIS_NUM_THREADS`` is set. A BFGS + cell-filter step of 32 atoms
        spent 0.24-0.56 s in numpy's threaded linear algebra on a busy
        machine and 0.009 s with one thread. With several calculators the
        pools run the fewest threads any of them holds.
    allow_unknown_elements
        Predict for elements the model never saw in training. By default a
        structure with such an element is refused (:class:`StructureError`
        naming it and the trained elements); models that do not record their
        training elements (earlier checkpoints, untrained models) allow all.
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.

    Attributes
    ----------
    elements
        The atomic numbers the calculator accepts (the model's training
        elements), or ``None`` for every element.
    batch_size
        Structures per model call of :meth:`calculate_batch` (and of the
        Augmenter) unless told otherwise: 32 on a GPU, 4 on a CPU, where a
        structure costs as much inside a batch as alone and large batches
        are slower (see docs/augment.md). Set it to change the default.
    """

    implemented_properties: ClassVar[list[str]] = [
        "energy",
        "free_energy",
        "energies",
        "forces",
        "stress",
    ]

    def __init__(
        self,
        model: AtomisticModel,
        *,
        device: str | torch.device = "auto",
        dtype: torch.dtype | str | None = None,
        skin: float = 1.0,
        neighbors: str = "auto",
        threads: int | str | None = "auto",
        blas_threads: int | str | None = "auto",
        allow_unknown_elements: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not model.predicts_energy:
            raise ValueError(f"{type(model).__name__} does not predict an energy")
        check_choice("neighbors", neighbors, ("auto", "matscipy", "torch"))
        self.device = resolve_device(device)
        if neighbors == "auto":
            neighbors = "torch" if self.device.type == "cuda" else "matscipy"
        self.neighbors = neighbors
        if threads != "auto" and threads is not None:
            check_int("threads", threads, 1)
        self.threads = threads
        if blas_threads != "auto" and blas_threads is not None:
            check_int("blas_threads", blas_threads, 1)
        self.blas_threads = blas_threads
        self.batch_size = 32 if self.device.type == "cuda" else 4
        self.dtype = (
            next(model.parameters()).dtype if dtype is None else resolve_dtype(dtype)
        )
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        options = model.graph_options()
        search = {
            "max_neighbors": options.get("max_neighbors"),
            "backend": neighbors,
            "device": self.device,
        }
        self._heads = model.heads()
        self.elements = None if allow_unknown_elements else trained_elements(model)
        self.implemented_properties = [*self.implemented_properties, *self._heads]
        self._neighbors = SkinNeighborList(options["cutoff"], skin, **search)
        self._batch_neighbors = SkinNeighborList(options["cutoff"], 0.0, **search)

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] | None = None,
        system_changes: Sequence[str] = all_changes,
    ) -> None:
        """Compute and store every property for ``atoms``, whatever was asked."""
        super().calculate(atoms, properties, system_changes)
        self._check_elements(self.atoms)
        pairs = [self._neighbors(self.atoms)]
        check_separation(self.atoms, self.atoms.get_chemical_formula(), pairs[0])
        self.results = self._evaluate([self.atoms], pairs)[0]

    def calculate_batch(
        self, images: Sequence[Atoms], *, batch_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Evaluate many structures, ``batch_size`` per model call.

        ``batch_size`` defaults to the calculator's :attr:`batch_size`.

        Returns one results dictionary per structure, with the keys a single
        ``calculate`` stores. The calculator's own ``results`` and state are
        left untouched.
        """
        batch_size = batch_size or self.batch_size
        results: list[dict[str, Any]] = []
        images = list(images)
        for atoms in images:
            self._check_elements(atoms)
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            pairs = [self._batch_neighbors(atoms) for atoms in chunk]
            for k, (atoms, found) in enumerate(zip(chunk, pairs, strict=True)):
                where = f"structure {start + k} ({atoms.get_chemical_formula()})"
                check_separation(atoms, where, found)
            results.extend(self._evaluate(chunk, pairs))
        return results

    def _hold_blas(self, n_atoms: int) -> None:
        """Hold or let go numpy's BLAS pools for an evaluation of ``n_atoms``."""
        wanted = self.blas_threads
        if wanted == "auto":
            small = n_atoms < SMALL_ATOMS and not pool_variable_set()
            wanted = 1 if small else None
        hold_blas_threads(self, None if wanted is None else int(wanted))

    @contextlib.contextmanager
    def _threads(self, n_atoms: int) -> Iterator[None]:
        """Run an evaluation of ``n_atoms`` atoms with the chosen torch threads."""
        wanted = self.threads
        if wanted == "auto":
            wanted = 1 if n_atoms < SMALL_ATOMS else None
        before = torch.get_num_threads()
        if self.device.type != "cpu" or wanted is None or wanted == before:
            yield
            return
        torch.set_num_threads(int(wanted))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _check_elements(self, atoms: Atoms) -> None:
        """Refuse an element outside :attr:`elements` (unless that is ``None``)."""
        if self.elements is None:
            return
        unknown = sorted(set(atoms.numbers.tolist()) - set(self.elements))
        if unknown:
            z = unknown[0]
            known = 0 < z < len(chemical_symbols)
            name = chemical_symbols[z] if known else "no element"
            trained = ", ".join(chemical_symbols[e] for e in self.elements)
            raise StructureError(
                f"{atoms.get_chemical_formula()} holds {name} (Z={z}), which the "
                f"model never saw in training (it was trained on {trained}); "
                "pass allow_unknown_elements=True to the calculator to predict anyway"
            )

    def _evaluate(
        self,
        images: list[Atoms],
        pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
        | list[tuple[Tensor, Tensor, Tensor]],
    ) -> list[dict[str, Any]]:
        graph = atoms_to_graph(
            images, dtype=self.dtype, device=self.device, pairs=pairs
        )
        periodic = [bool(a.pbc.all()) and a.cell.rank == 3 for a in images]
        n_atoms = sum(len(a) for a in images)
        self._hold_blas(n_atoms)
        with self._threads(n_atoms):
            out = predict(self.model, graph, forces=True, stress=any(periodic))
        energy = out["energy"].double().cpu().numpy()
        energies = out["energies"].double().cpu().numpy()
        forces = out["forces"].double().cpu().numpy()
        stress = (
            full_to_voigt(out["stress"]).double().cpu().numpy()
            if any(periodic)
            else None
        )
        heads = {key: out[key].double().cpu().numpy() for key in self._heads}
        bounds = np.cumsum([0, *(len(a) for a in images)])
        results = []
        for k, (lo, hi) in enumerate(pairwise(bounds)):
            result = {
                "energy": float(energy[k]),
                "free_energy": float(energy[k]),
                "energies": energies[lo:hi].copy(),
                "forces": forces[lo:hi].copy(),
            }
            if periodic[k]:
                result["stress"] = stress[k].copy()
            for name, values in heads.items():
                rows = values[lo:hi] if self._heads[name].per_atom else values[k]
                result[name] = rows.copy()
            results.append(result)
        return results


#: Calculator classes of models that have their own, by model name.
CALCULATORS: dict[str, type[TorchCalculator]] = {}


def calculator_for(model: AtomisticModel, **kwargs: Any) -> TorchCalculator:
    """Return the calculator of an energy model (its own class, if it has one).

    ``kwargs`` are :class:`TorchCalculator` options (``device``, ``dtype``, ...).
    """
    return CALCULATORS.get(model.model_name, TorchCalculator)(model, **kwargs)
