"""The test kit passes on correct calculators and fails on broken ones."""

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from calculator_factories import CALCULATORS, NEAREST_K, every_calculator

from asegen.testing import (
    STRUCTURES,
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
    make_bulk,
    make_cluster,
    make_molecule,
)


@every_calculator
@pytest.mark.parametrize("structure", list(STRUCTURES))
def test_reference_calculators_pass_every_check(make_calculator, structure):
    atoms = STRUCTURES[structure]()
    calc = make_calculator()
    assert_forces_match_fd(calc, atoms)
    if atoms.pbc.all():
        assert_stress_matches_fd(calc, atoms)
    assert_rotation_invariant(calc, atoms)
    assert_image_invariant(calc, atoms)
    assert_permutation_invariant(calc, atoms)
    if atoms.pbc.all():
        assert_cell_choice_invariant(calc, atoms)
    assert_calculator_contract(calc, atoms)


@pytest.mark.parametrize("name", [n for n in CALCULATORS if n not in NEAREST_K])
@pytest.mark.parametrize("structure", ["bulk", "alloy", "triclinic"])
def test_radius_graph_calculators_are_extensive(name, structure):
    assert_extensive(CALCULATORS[name](), STRUCTURES[structure]())


def test_structure_factories_cover_the_cases():
    pbcs = {name: tuple(f().pbc) for name, f in STRUCTURES.items()}
    assert pbcs["bulk"] == (True, True, True)
    assert pbcs["alloy"] == (True, True, True)
    assert len(set(STRUCTURES["alloy"]().numbers)) == 2
    assert pbcs["triclinic"] == (True, True, True)
    assert pbcs["slab"] == (True, True, False)
    assert pbcs["molecule"] == pbcs["cluster"] == (False, False, False)
    assert make_molecule().cell.rank == 0
    assert make_cluster().cell.rank == 0
    # deterministic
    np.testing.assert_array_equal(make_bulk().positions, make_bulk().positions)


class Broken(EMT):
    """EMT with one defect switched on, to show that each check can fail."""

    def __init__(self, defect):
        super().__init__()
        self.defect = defect

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if self.defect == "no-cache":
            self.results = {}
            self.atoms = None  # forget the state: every getter recomputes
        super().calculate(atoms, properties, system_changes)
        if self.defect == "forces":
            self.results["forces"] = self.results["forces"] * 1.01
        elif self.defect == "stress":
            self.results["stress"] = self.results["stress"] * -1.0
        elif self.defect == "field":  # an external field: not rotation invariant
            field = np.array([0.0, 0.0, 0.1])
            self.results["energy"] += float(self.atoms.positions[:, 2].sum() * 0.1)
            self.results["free_energy"] = self.results["energy"]
            self.results["forces"] = self.results["forces"] - field
        elif self.defect == "absolute":  # depends on the wrapped position
            frac = self.atoms.get_scaled_positions(wrap=False)
            self.results["energy"] += float(np.floor(frac).sum() * 0.01)
        elif self.defect == "first-atom":  # singles out atom 0
            self.results["energy"] += float(self.atoms.positions[0, 0] * 0.01)
        elif self.defect == "cell":  # depends on the cell vectors, not the lattice
            self.results["energy"] += float(self.atoms.cell.lengths().sum() * 0.01)
        elif self.defect == "constant":  # an energy offset that is not per atom
            self.results["energy"] += 1.0
        if self.defect == "no-cache":
            self.atoms = None

    def calculate_batch(self, images):
        results = []
        for atoms in images:
            atoms = atoms.copy()
            atoms.calc = EMT()
            atoms.get_potential_energy()
            results.append(dict(atoms.calc.results))
        if self.defect == "batch":
            results[-1]["energy"] += 1e-3
        return results


def test_forces_check_fails_on_wrong_forces():
    with pytest.raises(AssertionError, match="finite differences"):
        assert_forces_match_fd(Broken("forces"), make_bulk())


def test_stress_check_fails_on_wrong_sign():
    with pytest.raises(AssertionError, match="finite strain"):
        assert_stress_matches_fd(Broken("stress"), make_bulk())


def test_stress_check_refuses_non_periodic():
    with pytest.raises(ValueError, match="periodic"):
        assert_stress_matches_fd(EMT(), make_cluster())


def test_rotation_check_fails_in_a_field():
    with pytest.raises(AssertionError, match="rotation"):
        assert_rotation_invariant(Broken("field"), make_cluster())


def test_image_check_fails_when_wrapping_matters():
    with pytest.raises(AssertionError, match="image shifts"):
        assert_image_invariant(Broken("absolute"), make_bulk())


def test_permutation_check_fails_when_an_atom_is_special():
    with pytest.raises(AssertionError, match="permutation"):
        assert_permutation_invariant(Broken("first-atom"), make_bulk())


def test_cell_choice_check_fails_when_the_basis_matters():
    with pytest.raises(AssertionError, match="cell re-choice"):
        assert_cell_choice_invariant(Broken("cell"), make_bulk())


def test_extensivity_check_fails_on_a_constant_offset():
    with pytest.raises(AssertionError, match="supercell energy"):
        assert_extensive(Broken("constant"), make_bulk())


def test_contract_check_fails_without_caching():
    with pytest.raises(AssertionError, match="calculate calls"):
        assert_calculator_contract(Broken("no-cache"), make_bulk())


def test_batch_check_passes_and_fails():
    images = [f() for f in STRUCTURES.values()]
    assert_batch_equals_loop(Broken("none"), images)
    with pytest.raises(AssertionError, match="batch vs loop"):
        assert_batch_equals_loop(Broken("batch"), images)
    with pytest.raises(TypeError, match="calculate_batch"):
        assert_batch_equals_loop(EMT(), images)


def test_check_calculator_runs_everything():
    check_calculator(Broken("none"))
    with pytest.raises(AssertionError):
        check_calculator(Broken("forces"))


class Constant(Calculator):
    implemented_properties = ("energy", "free_energy", "forces")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": 1.0, "free_energy": 1.0, "forces": np.zeros((n, 3))}


def test_contract_check_notices_an_energy_that_ignores_geometry():
    with pytest.raises(AssertionError, match="did not change"):
        assert_calculator_contract(Constant(), make_cluster())
