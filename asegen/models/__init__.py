"""asegen's networks; importing this package registers every model class.

Each model follows :class:`~asegen.models.base.AtomisticModel`; forces and
stress of energy models come from :func:`~asegen.models.potential.predict`.
"""

from asegen.models.alignn import ALIGNN, ALIGNNConfig
from asegen.models.base import MODELS, AtomisticModel, Head
from asegen.models.checkpoint import load_checkpoint, save_checkpoint
from asegen.models.gschnet import GSchNet, GSchNetConfig
from asegen.models.potential import predict
from asegen.models.score import ScoreConfig, ScoreModel

__all__ = [
    "ALIGNN",
    "MODELS",
    "ALIGNNConfig",
    "AtomisticModel",
    "GSchNet",
    "GSchNetConfig",
    "Head",
    "ScoreConfig",
    "ScoreModel",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
]
