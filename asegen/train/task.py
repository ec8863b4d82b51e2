"""The seam between the engine and a kind of model: :class:`Task`.

The engine (:func:`asegen.train.train`) knows what every model shares: the
seeded split, loaders and samplers, DDP, optimizer and schedule, gradient
clipping, EMA weights, checkpoints, exact resume, ``hparams.yaml``,
``metrics.csv`` and progress bars. A task knows the rest for one kind of
model:

- its settings, a strict dataclass read from one section of the run config
  (:attr:`Task.section`, :attr:`Task.config_class`);
- how structures become training items (:meth:`Task.items`): an
  :class:`Items` dataset whose item ``k`` of epoch ``e`` may carry fresh
  noise, and which may serve many items per structure;
- the loss of a batch and its metrics (:meth:`Task.loss`), whose names are
  declared in advance (:attr:`Task.metrics`) and become the columns
  ``train_<name>`` and ``val_<name>`` of ``metrics.csv``;
- what is fitted to the data before the first epoch (:meth:`Task.prepare`);
- the end-of-run report on the test split (:meth:`Task.report`), and the
  lines it adds to the summary the engine prints at the end.

A model names its task (``AtomisticModel.task``) and a task registers under
that name with :func:`register_task`; asegen's own tasks are registered by
importing :mod:`asegen.train`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from ase import Atoms
from torch import Tensor

from asegen._config import from_dict
from asegen._registry import registrar
from asegen.errors import ConfigError
from asegen.graph import AtomsGraph, batch_graphs
from asegen.models.base import AtomisticModel
from asegen.train.config import TrainConfig

__all__ = ["TASKS", "Items", "Task", "item_generator", "register_task", "task_for"]

#: Task classes by name.
TASKS: dict[str, type[Task]] = {}

TaskClass = TypeVar("TaskClass", bound=type["Task"])


def register_task(name: str) -> Callable[[TaskClass], TaskClass]:
    """Class decorator: make ``name`` (a model's ``task``) train with this class."""
    return registrar(TASKS, "name", name)


def task_for(model: AtomisticModel | type[AtomisticModel]) -> type[Task]:
    """Return the task class that trains ``model`` (an instance or a class).

    A task that is not registered yet is looked for in the package
    ``asegen.<name>``, where asegen's generators register theirs
    (``asegen.diffusion``); any other must be imported first.

    Raises
    ------
    asegen.errors.ConfigError
        If the model names no task or one that is not registered.
    """
    name = model.task
    if name not in TASKS and name.isidentifier():
        # asegen's generators register their tasks in their own package
        with contextlib.suppress(ImportError):
            importlib.import_module(f"asegen.{name}")
    if name not in TASKS:
        known = ", ".join(sorted(TASKS)) or "none"
        raise ConfigError(
            f"model {model.model_name or type(model).__name__!r} names the task "
            f"{name!r}, which is not registered (registered: {known}); import the "
            "module that defines it with @register_task first"
        )
    return TASKS[name]


def item_generator(seed: int, *key: int) -> torch.Generator:
    """Return a CPU generator of its own for ``(seed, *key)``.

    Streams for different keys are independent (numpy's ``SeedSequence``
    spawns them), so an item drawn from ``item_generator(seed, split, epoch,
    k)`` is the same whichever worker, batch or resume point draws it.
    """
    state = np.random.SeedSequence(seed, spawn_key=key).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class Items(torch.utils.data.Dataset):
    """The training items of one split, as a task serves them.

    The engine's loaders ask for keys ``(epoch, k)``; subclasses implement
    :meth:`item` and ``__len__``. ``len()`` may exceed the number of
    structures (several items per structure), and an item may differ from
    epoch to epoch (fresh noise, a new trajectory): draw it from
    :func:`item_generator` so that it depends only on the seed, the epoch
    and ``k``.
    """

    def __getitem__(self, key: tuple[int, int]) -> AtomsGraph:
        epoch, k = key
        return self.item(k, epoch)

    def batch(self, keys: Sequence[tuple[int, int]]) -> AtomsGraph:
        """Return the items of ``keys`` as one graph, the batch a loader serves.

        By default item by item; a task whose items are cheaper to make
        together (noised as one graph) overrides it.
        """
        return batch_graphs([self[key] for key in keys])

    def item(self, k: int, epoch: int) -> AtomsGraph:
        """Return item ``k`` of ``epoch`` (a one-structure graph with its labels)."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class Task:
    """What one kind of model learns; subclass it and :func:`register_task` it.

    Parameters
    ----------
    model
        The model being trained (on resume, the one stored in ``last.pt``).
    settings
        An instance of :attr:`config_class`.
    seed
        The run's seed, for tasks that draw random items.

    Attributes
    ----------
    name
        The registered name (set by :func:`register_task`).
    section
        The run-config section holding the task's settings. A task whose
        keys differ from the engine's may share the ``train`` section.
    config_class
        A dataclass of the task's settings, read strictly.
    metrics
        The names of the metrics :meth:`loss` returns, ``"loss"`` first.
    sources
        The file each split was read from (``{"train": "data.xyz", "val":
        "val.xyz", "test": "data.xyz"}``), where known; the engine sets it
        before it asks for items, and :meth:`describe` names it in messages.
    """

    name: ClassVar[str] = ""
    section: ClassVar[str] = "task"
    config_class: ClassVar[type] = type(None)
    metrics: ClassVar[tuple[str, ...]] = ("loss",)

    def __init__(self, model: AtomisticModel, settings: Any, *, seed: int) -> None:
        self.model = model
        self.settings = settings
        self.seed = seed
        self.sources: dict[str, str] = {}

    def describe(self, split: str) -> str:
        """Name the structures of ``split`` in a message: ``"test data (data.xyz)"``.

        A message about structure ``i`` of the split reads ``f"structure {i}
        of the {task.describe(split)}"``, ``i`` counting in the file.
        """
        label = {"train": "training", "val": "validation"}.get(split, split)
        source = self.sources.get(split)
        return f"{label} data ({source})" if source else f"{label} data"

    @classmethod
    def train_defaults(cls) -> dict[str, Any]:
        """Engine settings (``train`` keys) the task trains best with (``{}``).

        ``asegen train`` and the run-config API use them where the config
        leaves those keys out; :class:`TrainConfig`'s own defaults fill the
        rest.
        """
        return {}

    @classmethod
    def train_config(cls, section: Mapping[str, Any]) -> TrainConfig:
        """Return the engine settings of ``section`` over :meth:`train_defaults`."""
        return from_dict(TrainConfig, {**cls.train_defaults(), **section}, "train.")

    @classmethod
    def model_defaults(cls, settings: Any) -> dict[str, Any]:
        """Model settings that follow from the task's (``{}`` by default).

        ``asegen train`` fills them into the ``model`` section where the
        config leaves them out, so a user states a choice once (e.g. which
        fields a diffusion model generates).
        """
        return {}

    def items(
        self, structures: Sequence[Atoms], indices: Sequence[int], *, split: str
    ) -> Items:
        """Return the items of ``structures[indices]`` for ``split``.

        ``split`` is ``"train"``, ``"val"`` or ``"test"``; a task may draw
        validation and test items once and for all (the same every epoch).
        A task checks here what it can of the structures and labels, so a
        mistake is found before the first epoch (name the structure with
        :meth:`describe`).
        """
        raise NotImplementedError

    def prepare(self, model: AtomisticModel, items: Items) -> None:
        """Fit statistics to the training items before a new run (none by default)."""

    def loss(
        self, model: AtomisticModel, batch: AtomsGraph, *, training: bool
    ) -> tuple[Tensor, dict[str, float]]:
        """Return the differentiable loss of ``batch`` and its metrics.

        Runs inside the module that DDP wraps, so every parameter that
        takes part must be reached from here. ``training`` is true in
        training passes (keep the graph of derivatives that enter the loss).
        The metrics are means over the batch, keyed by :attr:`metrics`.
        """
        raise NotImplementedError

    def report(
        self,
        run: Path,
        model: AtomisticModel,
        test: Items,
        *,
        split: str = "test",
        device: torch.device,
        dtype: torch.dtype,
    ) -> list[str]:
        """Write the end-of-run files for the test split (none by default).

        ``model`` holds the best weights, in eval mode on ``device``. Returns
        the lines of the run's closing summary (test errors with units, the
        files written); none by default. ``split`` names the evaluated split
        in those lines: ``"test"``, or ``"validation"`` when the run has no
        test split and the engine reports on the validation split instead.
        """
        return []
