"""The score network of the diffusion generator: a conditioned PaiNN.

:class:`ScoreModel` is the network (:mod:`~asegen.models.score.network`),
:class:`ScoreConfig` its options (:mod:`~asegen.models.score.config`); the
PaiNN blocks and heads are in :mod:`~asegen.models.score.blocks`, the time
and property conditioning in :mod:`~asegen.models.score.conditioning`.
"""

from asegen.models.score.conditioning import PROPERTY_PREFIX, TIME_LABEL
from asegen.models.score.config import ScoreConfig
from asegen.models.score.network import ScoreModel

__all__ = ["PROPERTY_PREFIX", "TIME_LABEL", "ScoreConfig", "ScoreModel"]
