"""The training engine shared by every asegen model.

>>> from asegen.train import TrainConfig, train  # doctest: +SKIP
>>> run = train(model, structures, config=TrainConfig(epochs=10), out="logs")

The engine keeps what every model shares; each kind of model brings a
:class:`Task` (registered with :func:`register_task`) that owns its items,
loss, metrics, settings and report. asegen's own tasks are registered here:
``"potential"`` (:class:`PotentialTask`, ALIGNN's).
"""

from asegen.train.config import TrainConfig
from asegen.train.engine import train
from asegen.train.potential import (
    LossWeights,
    PotentialConfig,
    PotentialTask,
    fit_reference_energies,
)
from asegen.train.task import TASKS, Items, Task, item_generator, register_task

__all__ = [
    "TASKS",
    "Items",
    "LossWeights",
    "PotentialConfig",
    "PotentialTask",
    "Task",
    "TrainConfig",
    "fit_reference_energies",
    "item_generator",
    "register_task",
    "train",
]
