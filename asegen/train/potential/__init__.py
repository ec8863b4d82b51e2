"""The potential task: ALIGNN's, and that of any energy or property model.

Importing it registers :class:`PotentialTask` under ``"potential"``.
"""

from asegen.train.potential.config import LossWeights, PotentialConfig
from asegen.train.potential.items import GraphItems, head_target
from asegen.train.potential.losses import loss_terms
from asegen.train.potential.task import PotentialTask, fit_reference_energies

__all__ = [
    "GraphItems",
    "LossWeights",
    "PotentialConfig",
    "PotentialTask",
    "fit_reference_energies",
    "head_target",
    "loss_terms",
]
