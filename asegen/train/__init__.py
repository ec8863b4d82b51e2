"""The training engine shared by every asegen model.

>>> from asegen.train import TrainConfig, train  # doctest: +SKIP
>>> run = train(model, structures, config=TrainConfig(epochs=10), out="logs")
"""

from asegen.train.config import LossWeights, TrainConfig
from asegen.train.engine import fit_reference_energies, train

__all__ = ["LossWeights", "TrainConfig", "fit_reference_energies", "train"]
