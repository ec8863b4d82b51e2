"""Calculator factories shared by the tests.

Each factory returns a fresh calculator. ASE's analytic calculators keep the
test kit itself honest; asegen's models join the list as they land.
"""

import pytest
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones

CALCULATORS = {
    "ase-lj": lambda: LennardJones(sigma=2.3, epsilon=0.4, rc=5.0, smooth=True),
    "ase-emt": EMT,
}

#: Parametrise a test over every calculator.
every_calculator = pytest.mark.parametrize(
    "make_calculator", list(CALCULATORS.values()), ids=list(CALCULATORS)
)
