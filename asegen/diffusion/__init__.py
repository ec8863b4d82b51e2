"""Score-based diffusion of structures: positions, atom types and cell.

Importing it registers the ``"diffusion"`` training task. The pieces:
noisers (:mod:`.positions`, :mod:`.types`, :mod:`.cell`) on the SDEs of
:mod:`.sde`, exact wrapped and reflected scores (:mod:`.wrapped`), the
fitted process a model carries (:mod:`.process`), the task (:mod:`.task`),
the sampler (:mod:`.sampler`) behind :class:`DiffusionGenerator`
(:mod:`.generator`). Generated structures are scored by
:mod:`asegen.evaluation`.
"""

from asegen.diffusion.api import load_diffusion, sample, train_diffusion
from asegen.diffusion.config import DiffusionConfig
from asegen.diffusion.generator import DiffusionGenerator
from asegen.diffusion.process import Process
from asegen.diffusion.task import DiffusionTask

__all__ = [
    "DiffusionConfig",
    "DiffusionGenerator",
    "DiffusionTask",
    "Process",
    "load_diffusion",
    "sample",
    "train_diffusion",
]
