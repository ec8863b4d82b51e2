"""Distil a teacher calculator into a small, fast ALIGNN force field.

``asegen distil TEACHER_SPEC SEEDS --out DIR`` in Python: the Augmenter grows
the seeds with teacher labels, the structures are split by family branch, an
ALIGNN force field (the student) is trained on them, and it is checked
against the teacher on the held-out split and by short NVE runs. Every stage
resumes; see :mod:`asegen.distil.pipeline` for the folder's layout.

>>> from asegen.distil import distil  # doctest: +SKIP
>>> result = distil("+ase.calculators.emt.EMT()", "seeds.xyz", "emt-student")
>>> calc = ALIGNNCalculator.load(result.run)
"""

from __future__ import annotations

from asegen.distil.config import DistilConfig, load_distil_config
from asegen.distil.pipeline import STAGES, DistilResult, distil
from asegen.distil.split import branches, split_by_branch, write_splits

__all__ = [
    "STAGES",
    "DistilConfig",
    "DistilResult",
    "branches",
    "distil",
    "load_distil_config",
    "split_by_branch",
    "write_splits",
]
