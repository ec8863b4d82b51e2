"""The potential task: energies, forces, stress, graph targets and extra heads.

It trains energy models (force fields: energy per atom, force and stress
components) and ALIGNN's property models (a graph-level target, or two
classes), each with optional per-atom and per-structure heads. Its settings
(:class:`PotentialConfig`) share the ``train`` section with the engine's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from torch import Tensor

from asegen.errors import ConfigError
from asegen.graph import AtomsGraph
from asegen.models.base import AtomisticModel, Head
from asegen.models.checkpoint import set_trained_elements
from asegen.models.potential import predict
from asegen.train.potential.config import PotentialConfig
from asegen.train.potential.items import HEADS, GraphItems
from asegen.train.potential.losses import loss_terms
from asegen.train.potential.report import write_report
from asegen.train.task import Task, register_task

__all__ = ["PotentialTask", "fit_reference_energies"]


@register_task("potential")
class PotentialTask(Task):
    """Fit energies, forces and stress (or a graph target) and extra heads.

    ``metrics.csv`` columns: ``loss``, the MAE of energy per atom, force and
    stress components, of the target (or its error rate) and of the
    atomwise and additional heads, each for train and validation.
    """

    section = "train"
    config_class = PotentialConfig
    settings: PotentialConfig

    def __init__(
        self, model: AtomisticModel, settings: PotentialConfig, *, seed: int
    ) -> None:
        super().__init__(model, settings, seed=seed)
        self._heads = _trained_heads(settings, model.heads())
        self._forces = model.predicts_energy and settings.weights.forces > 0
        self._stress = model.predicts_energy and settings.weights.stress > 0
        weighted = {
            "energy": model.predicts_energy and settings.weights.energy > 0,
            "forces": self._forces,
            "stress": self._stress,
            "target": not model.predicts_energy and settings.weights.energy > 0,
        }
        self._fitted = [name for name, used in weighted.items() if used]
        self._fitted += list(self._heads)

    metrics = (
        "loss", "energy_mae", "forces_mae", "stress_mae", "target_mae",
        "target_error_rate", "atomwise_mae", "additional_mae",
    )  # fmt: skip

    def items(
        self, structures: Sequence[Atoms], indices: Sequence[int], *, split: str
    ) -> GraphItems:
        """One graph per structure; every structure and label is checked at once.

        See :meth:`GraphItems.check_structures`: the training split and a
        non-empty validation split must hold at least one label the loss
        weighs.
        """
        items = GraphItems(
            structures,
            indices,
            self.model.graph_options(),
            target=None if self.model.predicts_energy else self.settings.target,
            heads=self._heads,
            name=self.describe(split),
        )
        items.check_structures(
            self._fitted,
            labelled=split == "train" or (split == "val" and len(items) > 0),
        )
        if self._heads:
            items.check_heads(self.model.heads())
        return items

    def prepare(self, model: AtomisticModel, items: GraphItems) -> None:  # type: ignore[override]
        """Record the training elements; fit reference energies if asked.

        The elements (every atomic number of the training split) are saved
        with the model's checkpoints, and its calculator refuses others
        unless told to allow them.
        """
        images = [items.atoms(k) for k in range(len(items))]
        set_trained_elements(model, np.concatenate([a.numbers for a in images]))
        if self.settings.fit_reference_energies and model.predicts_energy:
            fit_reference_energies(model, images)

    def loss(
        self, model: AtomisticModel, batch: AtomsGraph, *, training: bool
    ) -> tuple[Tensor, dict[str, float]]:
        """Evaluate (with forces and stress by autograd) and weigh every term."""
        if model.predicts_energy:
            out = predict(
                model,
                batch,
                forces=self._forces,
                stress=self._stress,
                create_graph=training,
            )
        else:
            out = model(batch)
        return loss_terms(
            out,
            batch,
            self.settings.weights,
            self.settings.loss,
            threshold=self.settings.classification_threshold,
        )

    def report(  # type: ignore[override]
        self,
        run: Path,
        model: AtomisticModel,
        test: GraphItems,
        *,
        split: str = "test",
        device: torch.device,
        dtype: torch.dtype,
    ) -> list[str]:
        """Write test predictions and parity plots; return the test errors."""
        return write_report(run, model, test, split=split, device=device, dtype=dtype)


def _trained_heads(settings: PotentialConfig, heads: Mapping[str, Head]) -> dict:
    """Map each head with a non-zero loss weight to the key of its target."""
    keys = settings.head_keys()
    for head in keys:
        if head not in heads or heads[head].per_atom != HEADS[head]:
            weight = getattr(settings.weights, head)
            raise ConfigError(
                f"train.weights.{head} is {weight} but the model has no {head} "
                f"head; set model.{head}_output_features or the weight to 0"
            )
    return keys


def fit_reference_energies(model: AtomisticModel, images: Sequence[Atoms]) -> None:
    """Set per-element reference energies and the energy scale of ``model``.

    The reference energies solve ``min sum_s (E_s - sum_i ref[Z_i])^2`` over the
    training structures with an energy label (least squares, one unknown per
    element present). The scale is the RMS force component when forces are
    labelled, else the standard deviation of the residual energy per atom.
    The model receives them through
    :meth:`~asegen.models.base.AtomisticModel.set_energy_reference`.
    """
    energies, counts, n_atoms, forces = [], [], [], []
    for atoms in images:
        results = atoms.calc.results if atoms.calc is not None else {}
        if "energy" not in results:
            continue
        energies.append(float(results["energy"]))
        counts.append(np.bincount(atoms.numbers, minlength=119))
        n_atoms.append(len(atoms))
        if "forces" in results:
            forces.append(np.asarray(results["forces"]).ravel())
    if not energies:
        return
    matrix = np.array(counts, dtype=float)
    present = matrix.any(axis=0)
    solution = np.linalg.lstsq(matrix[:, present], np.array(energies), rcond=None)[0]
    reference = np.zeros(119)
    reference[present] = solution
    residual = (np.array(energies) - matrix @ reference) / np.array(n_atoms)
    if forces:
        scale = float(np.sqrt(np.mean(np.concatenate(forces) ** 2)))
    else:
        scale = float(residual.std())
    model.set_energy_reference(reference, max(scale, 1e-3))
