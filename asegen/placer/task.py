"""The placer task: how cG-SchNet learns, on the shared training engine.

Every structure is prepared once (:func:`~asegen.placer.trajectory.prepare`:
neighbours, pairs and distances, kept in memory) and expanded into the
partial structures of a trajectory drawn afresh every epoch; with
``draw_random_samples = k`` only ``k`` steps of each trajectory are served,
so an epoch costs ``O(N)`` atoms per structure instead of ``O(N^2)``.
Validation and test trajectories are drawn once and stay the same, so their
losses are comparable between epochs. Structures whose atoms are not
connected by placement neighbours are reported and left out.

Item ``k`` is one partial structure with its labels: ``"next_type"`` (the
atomic number placed next, 0 for stop), ``"member"`` (the prediction set)
and ``"distance"`` (each member's distance to the new atom, NaN at stop
steps), plus ``"condition:<name>"`` for every condition. The loss is the
type negative log-likelihood plus the Kullback-Leibler divergence of the
predicted distance distributions from Gaussian-smoothed labels
(``metrics.csv``: ``loss``, ``type_loss``, ``distance_loss``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.data import chemical_symbols
from torch import Tensor

from asegen._structures import fixed_mask
from asegen.errors import ConfigError, StructureError
from asegen.graph import AtomsGraph, batch_graphs
from asegen.models.base import AtomisticModel
from asegen.models.gschnet import (
    CONDITION_PREFIX,
    NEXT_TYPE_LABEL,
    STOP,
    GSchNet,
)
from asegen.placer.conditions import (
    RELATIVE_ENERGY,
    condition_values,
    fit_relative_energy,
)
from asegen.placer.config import PlacerConfig
from asegen.placer.partial import partial_graph
from asegen.placer.trajectory import Prepared, prepare, sample_trajectory
from asegen.train import Items, Task, register_task

__all__ = [
    "DISTANCE_LABEL",
    "PlacerItems",
    "PlacerTask",
    "distance_divergence",
    "smoothed_labels",
]

#: Atom label: each member's distance to the new atom (NaN: none).
DISTANCE_LABEL = "distance"

_STREAMS = {"train": 0, "val": 1, "test": 2}


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


class PlacerItems(Items):
    """The partial structures of one split; see the module docs."""

    def __init__(
        self,
        task: PlacerTask,
        structures: Sequence[Atoms],
        indices: Sequence[int],
        split: str,
    ) -> None:
        self.task = task
        self.split = split
        config = task.model.config
        self.structures: list[Atoms] = []
        self.prepared: list[Prepared] = []
        self.where: list[str] = []
        skipped = []
        for index in indices:
            atoms = structures[int(index)]
            where = f"structure {int(index)} of the {task.describe(split)}"
            task.check_structure(atoms, where)
            result = prepare(atoms, config)
            if isinstance(result, str):
                skipped.append((int(index), result))
                continue
            self.structures.append(atoms)
            self.prepared.append(result)
            self.where.append(where)
        if skipped and not self.structures:
            raise StructureError(
                f"no structure of the {task.describe(split)} can be built atom by "
                f"atom: {skipped[0][1]}; check placement_cutoff and "
                "covalent_radius_factor"
            )
        if skipped:
            first = ", ".join(str(i) for i, _ in skipped[:5])
            more = ", ..." if len(skipped) > 5 else ""
            warnings.warn(
                f"{len(skipped)} structure(s) of the {task.describe(split)} left out: "
                f"{skipped[0][1]} (structures {first}{more})",
                UserWarning,
                stacklevel=2,
            )
        k = task.settings.draw_random_samples
        counts = [p.n_steps if not k else min(k, p.n_steps) for p in self.prepared]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._memo: tuple[tuple[int, int], Any] | None = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def trajectory(self, s: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Return structure ``s``'s trajectory of ``epoch`` (order, served steps)."""
        epoch = epoch if self.split == "train" else 0
        if self._memo is not None and self._memo[0] == (s, epoch):
            return self._memo[1]
        rng = _rng(self.task.seed, _STREAMS[self.split], epoch, s)
        order, steps = sample_trajectory(self.prepared[s], rng)
        k = self.task.settings.draw_random_samples
        if k and len(steps) > k:
            steps = steps[np.sort(rng.choice(len(steps), k, replace=False))]
        self._memo = ((s, epoch), (order, steps))
        return order, steps

    def item(self, k: int, epoch: int) -> AtomsGraph:
        """Return partial structure ``k`` of ``epoch`` with its labels."""
        s = int(np.searchsorted(self.offsets, k, side="right")) - 1
        order, steps = self.trajectory(s, epoch)
        n_placed, focus, new = (int(v) for v in steps[k - self.offsets[s]])
        return self.task.step_graph(
            self.prepared[s], order, n_placed, focus, new, self.conditions(s)
        )

    def conditions(self, s: int) -> dict[str, np.ndarray]:
        """Return the condition values of structure ``s``."""
        model = self.task.model
        return condition_values(
            self.structures[s], model.config.conditions, model.fitted, self.where[s]
        )


@register_task("placer")
class PlacerTask(Task):
    """Teach a :class:`~asegen.models.gschnet.GSchNet` to build structures."""

    section = "placer"
    config_class = PlacerConfig
    metrics = ("loss", "type_loss", "distance_loss")
    settings: PlacerConfig
    model: GSchNet

    def __init__(
        self, model: AtomisticModel, settings: PlacerConfig, *, seed: int
    ) -> None:
        super().__init__(model, settings, seed=seed)
        if not isinstance(model, GSchNet):
            raise ConfigError(
                f"the placer task trains GSchNet models, not {type(model).__name__}"
            )
        given = set(settings.conditions)
        embedded = set(model.config.conditions)
        if given - embedded:
            raise ConfigError(
                f"placer.conditions names {sorted(given - embedded)}, which the model "
                "does not embed; leave model.conditions out or list them there"
            )

    @classmethod
    def model_defaults(cls, settings: PlacerConfig) -> dict[str, Any]:
        """Return the model's conditions: those of ``placer.conditions``."""
        return {"conditions": dict(settings.conditions)} if settings.conditions else {}

    def check_structure(self, atoms: Atoms, where: str) -> None:
        """Refuse a structure the model cannot learn, naming it."""
        from asegen._structures import check_atoms

        check_atoms(atoms, name=where)
        types = self.model.atom_types
        added = set(atoms.numbers[~fixed_mask(atoms)].tolist())
        if types and not added <= set(types):
            extra = ", ".join(chemical_symbols[z] for z in sorted(added - set(types)))
            known = ", ".join(chemical_symbols[z] for z in types)
            raise StructureError(
                f"{where} has {extra}, which model.atom_types ({known}) does not "
                "list; add it there or leave atom_types out to take the data's"
            )

    def items(
        self, structures: Sequence[Atoms], indices: Sequence[int], *, split: str
    ) -> PlacerItems:
        """Prepare ``structures[indices]`` once; trajectories are drawn when served."""
        items = PlacerItems(self, structures, indices, split)
        if split != "train" and self.model.fitted:
            for s in range(len(items.structures)):
                items.conditions(s)  # a missing value is found before epoch 1
        return items

    def prepare(self, model: AtomisticModel, items: PlacerItems) -> None:  # type: ignore[override]
        """Fit the elements and the conditions' statistics to the training items."""
        assert isinstance(model, GSchNet)
        structures = items.structures
        if not model.atom_types:
            added = {
                int(z)
                for atoms in structures
                for z in atoms.numbers[~fixed_mask(atoms)]
            }
            model.set_atom_types(sorted(added))
        fitted: dict[str, Any] = dict(model.fitted)
        if RELATIVE_ENERGY in model.config.conditions:
            fitted[RELATIVE_ENERGY] = fit_relative_energy(
                structures, self.describe("train")
            )
        model.fitted = fitted
        values = [items.conditions(s) for s in range(len(structures))]
        ranges = {}
        for name, options in model.config.conditions.items():
            column = np.array([v[name] for v in values])
            if options["kind"] == "composition":
                column = column[:, 119:]
            if (
                options["kind"] in ("scalar", "composition")
                and "spacing" not in options
            ):
                low, high = float(column.min()), float(column.max())
                model.conditioning.embeddings[name].expand.set_range(low, high)
                ranges[name] = [low, high]
        fitted["condition_ranges"] = ranges
        model.fitted = fitted

    def step_graph(
        self,
        prepared: Prepared,
        order: np.ndarray,
        n_placed: int,
        focus: int,
        new: int,
        conditions: dict[str, np.ndarray],
    ) -> AtomsGraph:
        """Return the labelled graph of one trajectory step."""
        placed = order[:n_placed]
        rank = np.full(len(prepared.numbers), -1)
        rank[placed] = np.arange(n_placed)
        i, j, s = prepared.pairs
        keep = (rank[i] >= 0) & (rank[j] >= 0)
        graph, members = partial_graph(
            prepared.positions[placed],
            prepared.numbers[placed],
            prepared.cell,
            prepared.pbc,
            prepared.origin,
            int(rank[focus]) if focus >= 0 else -1,
            (rank[i[keep]], rank[j[keep]], s[keep]),
            self.model.config.prediction_cutoff,
        )
        distance = np.full(n_placed + 2, np.nan)
        if new >= 0:
            to_new = prepared.distances[new]
            if focus >= 0:
                distance[0] = to_new[focus]
            else:
                distance[0] = prepared.origin_distances[new]
            distance[1] = prepared.origin_distances[new]
            distance[members + 2] = to_new[placed[members]]
        next_type = int(prepared.numbers[new]) if new >= 0 else STOP
        structure = {NEXT_TYPE_LABEL: torch.tensor([next_type])}
        for name, value in conditions.items():
            structure[CONDITION_PREFIX + name] = torch.from_numpy(
                value[None].astype(np.float64)
            )
        return graph.with_labels(
            atom={DISTANCE_LABEL: torch.from_numpy(distance)}, structure=structure
        )

    def loss(
        self, model: AtomisticModel, batch: AtomsGraph, *, training: bool
    ) -> tuple[Tensor, dict[str, float]]:
        """Type negative log-likelihood plus the distance KL divergence."""
        assert isinstance(model, GSchNet)
        out = model(batch)
        next_type = batch.structure_labels[NEXT_TYPE_LABEL].reshape(-1)
        column = torch.zeros(119, dtype=torch.long, device=next_type.device)
        column[model.atom_types] = torch.arange(
            1, len(model.atom_types) + 1, device=column.device
        )
        type_loss = -out["type"].gather(1, column[next_type][:, None]).mean()
        target = batch.atom_labels[DISTANCE_LABEL][out["members"]]
        rows = ~torch.isnan(target)
        log_p = out["distance"][rows]
        distance_loss = distance_divergence(
            log_p,
            target[rows],
            model.bin_centres,
            self.settings.dist_label_width_factor,
        )
        total = type_loss + distance_loss
        metrics = {
            "loss": float(total.detach()),
            "type_loss": float(type_loss.detach()),
            "distance_loss": float(distance_loss.detach()),
        }
        return total, metrics

    def report(  # type: ignore[override]
        self,
        run: Path,
        model: AtomisticModel,
        test: PlacerItems,
        *,
        split: str = "test",
        device: torch.device,
        dtype: torch.dtype,
    ) -> list[str]:
        """Return the test (or ``split``) losses of the best weights."""
        if not len(test):
            return []
        totals = dict.fromkeys(self.metrics, 0.0)
        chunk = 64
        for start in range(0, len(test), chunk):
            graphs = [test[(0, k)] for k in range(start, min(start + chunk, len(test)))]
            batch = batch_graphs(graphs).to(device=device, dtype=dtype)
            with torch.no_grad():
                _, metrics = self.loss(model, batch, training=False)
            for name in totals:
                totals[name] += metrics[name] * len(graphs)
        means = {name: value / len(test) for name, value in totals.items()}
        return [
            f"{split} losses: type {means['type_loss']:.4g} nats, distance "
            f"{means['distance_loss']:.4g} nats ({len(test)} partial structures)"
        ]


def smoothed_labels(distances: Tensor, centres: Tensor, width_factor: float) -> Tensor:
    """Return the ``(R, n_bins)`` log-labels of distances: smoothed bin memberships.

    ``q_b ~ exp(-(d - c_b)^2 / w)`` over the bin centres ``c_b`` with ``w =
    width_factor * bin width``, ``d`` clamped to the bins' range and each row
    normalised; below ``width_factor = 0.01`` the nearest bin alone.
    """
    step = float(centres[1] - centres[0])
    d = distances.clamp(float(centres[0]), float(centres[-1]))[:, None]
    if width_factor < 0.01:
        nearest = torch.round((d[:, 0] - centres[0]) / step).long()
        hot = torch.full(
            (len(d), len(centres)), -torch.inf, dtype=d.dtype, device=d.device
        )
        return hot.scatter(1, nearest[:, None], 0.0)
    return torch.log_softmax(-((d - centres) ** 2) / (width_factor * step), dim=1)


def distance_divergence(
    log_p: Tensor, distances: Tensor, centres: Tensor, width_factor: float
) -> Tensor:
    """Return the mean KL divergence of ``log_p`` from :func:`smoothed_labels`.

    With one-hot labels that is the nearest bin's negative log-likelihood.
    No rows: zero.
    """
    if not len(distances):
        return log_p.sum() * 0.0
    log_q = smoothed_labels(distances, centres, width_factor)
    q = log_q.exp()
    return (q * (log_q.clamp_min(-1e4) - log_p)).sum(dim=1).mean()
