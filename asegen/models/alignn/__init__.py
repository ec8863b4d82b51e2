"""ALIGNN / ALIGNN-FF in pure torch, and reading alignn's own runs.

:class:`ALIGNN` is the network (:mod:`~asegen.models.alignn.network`),
:class:`ALIGNNConfig` its options (:mod:`~asegen.models.alignn.config`);
:mod:`~asegen.models.alignn.compat` reads alignn's ``config.json`` and
:mod:`~asegen.models.alignn.weights` its ``best_model.pt``.
"""

from asegen.models.alignn.compat import config_from_alignn, train_config_from_alignn
from asegen.models.alignn.config import ALIGNNConfig
from asegen.models.alignn.network import ALIGNN
from asegen.models.alignn.weights import load_alignn_run, state_dict_from_alignn

__all__ = [
    "ALIGNN",
    "ALIGNNConfig",
    "config_from_alignn",
    "load_alignn_run",
    "state_dict_from_alignn",
    "train_config_from_alignn",
]
