"""The network of the autoregressive placer: cG-SchNet (Gebauer et al. 2022).

:class:`GSchNet` is the network (:mod:`~asegen.models.gschnet.network`),
:class:`GSchNetConfig` its options (:mod:`~asegen.models.gschnet.config`);
SchNet itself is in :mod:`~asegen.models.gschnet.schnet` and the conditions'
embeddings in :mod:`~asegen.models.gschnet.conditioning`.
"""

from asegen.models.gschnet.conditioning import (
    CONDITION_PREFIX,
    composition_vector,
    condition_width,
)
from asegen.models.gschnet.config import GSchNetConfig
from asegen.models.gschnet.network import MEMBER_LABEL, NEXT_TYPE_LABEL, STOP, GSchNet
from asegen.models.gschnet.schnet import FOCUS, ORIGIN

__all__ = [
    "CONDITION_PREFIX",
    "FOCUS",
    "MEMBER_LABEL",
    "NEXT_TYPE_LABEL",
    "ORIGIN",
    "STOP",
    "GSchNet",
    "GSchNetConfig",
    "composition_vector",
    "condition_width",
]
