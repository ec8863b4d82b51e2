"""Dataset augmentation: rattle–relax–repeat with any ASE calculator.

A replacement for augment-atoms 0.2.0 that runs its ``config.yaml`` unchanged
(``asegen augment config.yaml``) and fixes its defects. From Python:

>>> from ase.build import bulk
>>> from ase.calculators.emt import EMT
>>> from asegen.augment import Augmenter
>>> structures = list(Augmenter(EMT(), n_per_structure=4, seed=0).run(bulk("Cu") * 2))
>>> len(structures), structures[-1].info["id"]
(4, '0-3')
"""

from __future__ import annotations

from asegen.augment.augmenter import Augmenter, AugmentStats
from asegen.augment.config import AugmentConfig, AugmentSettings, load_config
from asegen.augment.runner import run_config

__all__ = [
    "AugmentConfig",
    "AugmentSettings",
    "AugmentStats",
    "Augmenter",
    "load_config",
    "run_config",
]
