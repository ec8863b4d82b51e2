"""Tiny seeded calculators shared by the tests and ``make style``.

Each factory returns a fresh calculator. ``tiny_alignn`` also serves
``count_forward_calls.py`` (it returns the calculator and its model, so the
model's forward calls are counted too).
"""

import pytest
import torch
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

from asegen.calculators import ALIGNNCalculator
from asegen.models.alignn import ALIGNN, ALIGNNConfig

TINY = {
    "hidden_features": 16,
    "embedding_features": 16,
    "alignn_layers": 1,
    "gcn_layers": 1,
    "cutoff": 4.0,
    "three_body_cutoff": 3.0,
}
# alignn's own graph and convolution settings
ALIGNN_COMPATIBLE = {
    "aggregation": "mean",
    "smooth_cutoff": False,
    "keep_degenerate_triplets": True,
    "max_neighbors": 12,
}


def alignn_model(seed=0, **options):
    torch.manual_seed(seed)
    return ALIGNN(ALIGNNConfig(**{**TINY, **options}))


def alignn_calculator(dtype=torch.float64, **options):
    return ALIGNNCalculator(alignn_model(**options), dtype=dtype, device="cpu")


def tiny_alignn():
    calc = alignn_calculator(dtype=torch.float32)
    return calc, calc.model


CALCULATORS = {
    "ase-lj": lambda: LennardJones(sigma=2.3, epsilon=0.4, rc=5.0, smooth=True),
    "ase-emt": EMT,
    "alignn": alignn_calculator,
    "alignn-compatible": lambda: alignn_calculator(**ALIGNN_COMPATIBLE),
}
#: Calculators whose graph keeps the K nearest neighbours: with ties their
#: supercell graph need not be the repeated graph of the cell.
NEAREST_K = {"alignn-compatible"}

#: Parametrise a test over every calculator: ASE's analytic references keep the
#: test kit honest, asegen's models run beside them.
every_calculator = pytest.mark.parametrize(
    "make_calculator", list(CALCULATORS.values()), ids=list(CALCULATORS)
)
