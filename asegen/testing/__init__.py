"""A physics test kit for ASE calculators, shared by asegen's tests and its users.

Everything here speaks the plain ASE calculator interface, so the same checks
run on ASE's analytic calculators, on asegen's models, and on yours::

    from asegen.testing import STRUCTURES, check_calculator
    check_calculator(my_calculator)            # every check on every structure

or one check at a time, inside your own pytest parametrisation::

    from asegen.testing import assert_forces_match_fd, make_bulk
    assert_forces_match_fd(my_calculator, make_bulk("Si"), tolerance="float64")

Derivative checks compare with central finite differences, which are only as
accurate as the energies: run them in float64 (``TOLERANCES["float64"]``) and
expect the looser ``TOLERANCES["float32"]`` otherwise.
"""

from asegen.testing.checks import (
    TOLERANCES,
    Tolerance,
    assert_batch_equals_loop,
    assert_calculator_contract,
    assert_cell_choice_invariant,
    assert_extensive,
    assert_forces_match_fd,
    assert_image_invariant,
    assert_permutation_invariant,
    assert_rotation_invariant,
    assert_stress_matches_fd,
    check_calculator,
)
from asegen.testing.structures import (
    STRUCTURES,
    make_alloy,
    make_bulk,
    make_cluster,
    make_molecule,
    make_slab,
    make_triclinic,
)

__all__ = [
    "STRUCTURES",
    "TOLERANCES",
    "Tolerance",
    "assert_batch_equals_loop",
    "assert_calculator_contract",
    "assert_cell_choice_invariant",
    "assert_extensive",
    "assert_forces_match_fd",
    "assert_image_invariant",
    "assert_permutation_invariant",
    "assert_rotation_invariant",
    "assert_stress_matches_fd",
    "check_calculator",
    "make_alloy",
    "make_bulk",
    "make_cluster",
    "make_molecule",
    "make_slab",
    "make_triclinic",
]
