"""Autoregressive placement of atoms: cG-SchNet on asegen's engine.

Importing it registers the ``"placer"`` training task. The pieces: training
trajectories (:mod:`.trajectory`), partial structures as graphs
(:mod:`.partial`), conditions (:mod:`.conditions`), the task (:mod:`.task`)
and generation (:mod:`.grid`, :mod:`.generator`).
"""

from asegen.placer.config import PlacerConfig
from asegen.placer.generator import AutoregressivePlacer, PlacedBatch
from asegen.placer.task import PlacerTask

__all__ = ["AutoregressivePlacer", "PlacedBatch", "PlacerConfig", "PlacerTask"]
