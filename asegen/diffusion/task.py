"""The diffusion task: how a score model learns, on the shared training engine.

Every epoch each training structure becomes a freshly noised item: one
diffusion time ``t ~ U[t_min, 1]`` per structure, every generated field
(cell, positions, types) noised to it by its noiser, the edges of the noised
structure rebuilt, and the noisers' targets attached as labels. Conditioning
properties are standardised and dropped (NaN) with probability ``p_uncond``.
A batch is noised as one graph, from a seeded stream of its own (the seed,
the split, the epoch and the batch's first item), so training resumes
exactly and the worker count changes nothing.

The loss is the weighted sum of the noisers' losses; ``metrics.csv`` has
``loss`` and one ``<field>_loss`` per generated field. At the end, the test
loss is measured on a grid of diffusion times (``test_loss_by_time.csv`` and
``loss_by_time.png``): where a model is weak shows at a glance.

Before a new run, :class:`~asegen.diffusion.process.Process` is fitted to the
training structures (elements, density, property statistics) and stored in
the model, so a checkpoint carries everything the generator needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ase import Atoms
from torch import Tensor

from asegen._structures import property_value
from asegen.diffusion.config import DiffusionConfig
from asegen.diffusion.graphs import state_graph, with_edges
from asegen.diffusion.noiser import TIME
from asegen.diffusion.positions import CONFINEMENT
from asegen.diffusion.process import Process
from asegen.errors import ConfigError
from asegen.graph import AtomsGraph
from asegen.models.base import AtomisticModel
from asegen.train import Items, Task, item_generator, register_task

__all__ = ["DiffusionItems", "DiffusionTask", "field_outputs"]

_STREAMS = {"train": 0, "val": 1, "test": 2}
_REPORT_TIMES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def field_outputs(output: Mapping[str, Tensor], process: Process) -> dict[str, Tensor]:
    """Return the network's outputs by field, the types logits cut to the vocabulary."""
    out = dict(output)
    if "types" in out and process.vocabulary:
        out["types"] = out["types"][:, process.vocabulary]
    return out


class DiffusionItems(Items):
    """Noised structures: item ``k`` of epoch ``e`` is structure ``k`` noised afresh.

    Training items of repeat phase ``p`` are the structures tiled
    ``(p + 1) x (p + 1) x 1``; validation and test items are the structures
    as given, each batch drawn with the same noise every epoch.
    """

    def __init__(
        self,
        task: DiffusionTask,
        structures: Sequence[Atoms],
        indices: Sequence[int],
        split: str,
    ) -> None:
        self.task = task
        self.structures = structures
        self.indices = [int(i) for i in indices]
        self.split = split

    def __len__(self) -> int:
        return len(self.indices)

    def atoms(self, k: int) -> Atoms:
        """Return the ``k``-th structure itself."""
        return self.structures[self.indices[k]]

    def item(self, k: int, epoch: int) -> AtomsGraph:
        """Return structure ``k`` noised for ``epoch`` (a batch of one)."""
        return self.batch([(epoch, k)])

    def batch(self, keys: Sequence[tuple[int, int]]) -> AtomsGraph:
        """Return the structures of ``keys`` noised together (see the class docs)."""
        settings = self.task.settings
        epoch, first = keys[0]
        images = [self.atoms(k) for _, k in keys]
        if self.split == "train" and settings.repeat > 1:
            phase = min(epoch // settings.repeat_epoch, settings.repeat - 1)
            if phase:
                images = [atoms.repeat((phase + 1, phase + 1, 1)) for atoms in images]
        generator = item_generator(self.task.seed, _STREAMS[self.split], epoch, first)
        places = [
            f"structure {self.indices[k]} of the {self.split} data" for _, k in keys
        ]
        return self.task.noised(
            images, generator, where=places, train=self.split == "train"
        )


@register_task("diffusion")
class DiffusionTask(Task):
    """Train a score model to denoise every generated field; see the module docs."""

    section = "diffusion"
    config_class = DiffusionConfig
    settings: DiffusionConfig

    def __init__(
        self, model: AtomisticModel, settings: DiffusionConfig, *, seed: int
    ) -> None:
        super().__init__(model, settings, seed=seed)
        self.metrics = ("loss", *(f"{name}_loss" for name in settings.fields))
        wanted = set(settings.fields)
        heads = model.heads()
        if set(heads) != wanted:
            raise ConfigError(
                f"the score model has heads {sorted(heads)} but the diffusion "
                f"settings generate {sorted(wanted)}; match model.heads to the "
                "diffusion settings (or leave model.heads out)"
            )
        if "types" in heads and heads["types"].width != 119:
            raise ConfigError(
                "the score model's types head needs one logit per atomic number "
                "(classes: 119); leave model.heads out to get it"
            )
        embedded = getattr(getattr(model, "config", None), "properties", {})
        missing = set(settings.properties()) - set(embedded)
        if missing:
            raise ConfigError(
                f"diffusion.conditioning names {sorted(missing)}, which the model "
                "does not embed; leave model.properties out or list them there"
            )
        process = getattr(model, "process", None)
        self.process = Process.from_hparams(process) if process else None

    @classmethod
    def train_defaults(cls) -> dict[str, Any]:
        """Train at a constant learning rate (``scheduler: none``), as AGeDi does.

        Fresh noise every epoch keeps the loss noisy to the end; against
        one-cycle's anneal it gained validity on slabs and clusters and
        changed nothing on bulk cells (docs/diffusion.md).
        """
        return {"scheduler": "none"}

    @classmethod
    def model_defaults(cls, settings: DiffusionConfig) -> dict[str, Any]:
        """Return heads, properties (and for gas, ``centred``) fitting ``settings``."""
        heads: dict[str, dict[str, Any]] = {name: {} for name in settings.fields}
        if "types" in heads:
            heads["types"] = {"classes": 119}  # one logit per atomic number
        defaults = {"heads": heads, "properties": settings.properties()}
        if settings.noiser == "gas":
            defaults["centred"] = True  # atoms beyond the cutoff still see home
        return defaults

    def items(
        self, structures: Sequence[Atoms], indices: Sequence[int], *, split: str
    ) -> DiffusionItems:
        """Noised items of ``structures[indices]`` (noise drawn when served)."""
        return DiffusionItems(self, structures, indices, split)

    def prepare(self, model: AtomisticModel, items: DiffusionItems) -> None:  # type: ignore[override]
        """Fit the process to the training structures and store it in the model.

        A model that already carries a process (fine-tuning a trained
        generator) keeps it: only the statistics of properties it does not
        know yet are fitted.
        """
        structures = [items.atoms(k) for k in range(len(items))]
        fitted = Process.fit(self.settings, structures)
        if self.process is not None:  # keep the trained noisers
            for name, entry in fitted.properties.items():
                self.process.properties.setdefault(name, entry)
            fitted = self.process
        self.process = fitted
        model.process = fitted.hparams()  # type: ignore[attr-defined]
        reference = getattr(model, "reference_neighbors", None)
        if reference is not None and not float(reference):  # keep a base model's
            reference.fill_(_neighbors_per_atom(structures, model.graph_options()))

    def noised(
        self,
        images: Sequence[Atoms],
        generator: torch.Generator,
        *,
        where: Sequence[str],
        train: bool,
        t: float | None = None,
    ) -> AtomsGraph:
        """Return ``images`` as one graph noised to ``t`` (drawn when ``None``).

        ``where`` names each structure in error messages.
        """
        process = self._process()
        graph = state_graph(images, torch.float64)
        if t is None:
            time = process.draw_times(generator, len(images), train=train)
        else:
            time = torch.full((len(images),), float(t), dtype=torch.float64)
        labels = {TIME: time[:, None], **self._labels(images, generator, where, train)}
        graph = graph.with_labels(structure=labels)
        for noiser in process.noisers.values():
            graph = noiser.corrupt(graph, time, generator)
        options = self.model.graph_options()
        return with_edges(
            graph, options["cutoff"], max_neighbors=options["max_neighbors"]
        )

    def _labels(
        self,
        images: Sequence[Atoms],
        generator: torch.Generator,
        where: Sequence[str],
        train: bool,
    ) -> dict[str, Tensor]:
        process = self._process()
        labels: dict[str, Tensor] = {}
        if "positions" in process.noisers and process.pbc == (True, True, False):
            windows = []
            for atoms, place in zip(images, where, strict=True):
                window = atoms.info.get(CONFINEMENT, process.confinement)
                if window is None:
                    raise ConfigError(
                        f"{place} has no confinement window; set "
                        "diffusion.confinement or atoms.info['confinement'] = [lo, hi]"
                    )
                windows.append(list(window))
            labels[CONFINEMENT] = torch.tensor(windows, dtype=torch.float64)
        drop = torch.rand(len(images), generator=generator, dtype=torch.float64)
        drop = (drop < self.settings.p_uncond) & train
        used = self.settings.properties()  # others (a base model's): not given
        for name in process.properties:
            values = [
                process.standardise(name, property_value(atoms, name, place))
                if name in used and not dropped
                else float("nan")
                for atoms, place, dropped in zip(
                    images, where, drop.tolist(), strict=True
                )
            ]
            labels[f"property:{name}"] = torch.tensor(values, dtype=torch.float64)[
                :, None
            ]
        return labels

    def _process(self) -> Process:
        if self.process is None:
            raise RuntimeError("the diffusion process is fitted in prepare()")
        return self.process

    def loss(
        self, model: AtomisticModel, batch: AtomsGraph, *, training: bool
    ) -> tuple[Tensor, dict[str, float]]:
        """Weighted sum of every noiser's loss, and each one as a metric."""
        process = self._process()
        out = field_outputs(model(batch), process)
        total = batch.positions.sum() * 0.0
        metrics: dict[str, float] = {}
        for name, noiser in process.noisers.items():
            term = noiser.loss(out[name], batch)
            total = total + self.settings.weights[name] * term
            metrics[f"{name}_loss"] = float(term.detach())
        metrics["loss"] = float(total.detach())
        return total, metrics

    def report(  # type: ignore[override]
        self,
        run: Path,
        model: AtomisticModel,
        test: DiffusionItems,
        *,
        split: str = "test",
        device: torch.device,
        dtype: torch.dtype,
    ) -> list[str]:
        """Write the test (or ``split``) loss of every field on a grid of times."""
        rows = []
        for t in _REPORT_TIMES:
            batch = self.noised(
                [test.atoms(k) for k in range(len(test))],
                item_generator(self.seed, 3),
                where=[f"{split} structure {k}" for k in range(len(test))],
                train=False,
                t=t,
            ).to(device=device, dtype=dtype)
            with torch.no_grad():
                _, metrics = self.loss(model, batch, training=False)
            rows.append((t, metrics))
        names = [f"{name}_loss" for name in self._process().noisers]
        lines = [",".join(["t", *names])]
        lines += [
            ",".join([f"{t:g}", *(f"{m[n]:.8g}" for n in names)]) for t, m in rows
        ]
        (run / "test_loss_by_time.csv").write_text("\n".join(lines) + "\n")
        _plot_by_time(run / "loss_by_time.png", rows, names)
        middle = dict(rows)[0.5]
        losses = ", ".join(f"{name} {middle[name]:.4g}" for name in names)
        return [
            f"{split} losses at t = 0.5: {losses}",
            f"{split} loss by diffusion time: {run / 'loss_by_time.png'}",
        ]


def _neighbors_per_atom(structures: Sequence[Atoms], options: dict[str, Any]) -> float:
    """Return the mean number of graph neighbours per atom of ``structures``."""
    from asegen.graph import neighbor_list

    edges = atoms = 0
    for item in structures[:200]:  # a sample is enough for a mean
        i, _, _ = neighbor_list(
            item, options["cutoff"], max_neighbors=options["max_neighbors"]
        )
        edges, atoms = edges + len(i), atoms + len(item)
    return edges / max(atoms, 1)


def _plot_by_time(
    path: Path, rows: list[tuple[float, dict[str, float]]], names: list[str]
) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    times = [t for t, _ in rows]
    for name in names:
        ax.plot(times, [m[name] for _, m in rows], marker="o", ms=3, label=name)
    ax.set(
        xlabel="diffusion time t",
        ylabel="test loss",
        yscale="log",
        title="Loss by time",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
