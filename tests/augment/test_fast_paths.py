"""The loop's fast paths give exactly what the ASE and NumPy calls they replace give."""

import io
import pickle

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc111, molecule
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from augment_helpers import cu_cell, cu_cluster
from hypothesis import given, settings
from hypothesis import strategies as st

from asegen.augment import Augmenter
from asegen.augment.io import ExtxyzText
from asegen.augment.labels import _changes, copy_atoms, single_point
from asegen.augment.operations import (
    LogUniform,
    StrainDraw,
    choose_index,
    cumulative,
    fractional,
    log_uniform,
    max_force,
    quantize,
    rattle,
    rattled,
    relax_step,
    strain_cell,
)


def ase_text(atoms):
    text = io.StringIO()
    ase.io.write(text, atoms, format="extxyz")
    return text.getvalue()


def labelled(atoms, *, stress=True):
    """``atoms`` with EMT labels in a SinglePointCalculator."""
    probe = atoms.copy()
    probe.calc = EMT()
    results = {"energy": probe.get_potential_energy(), "forces": probe.get_forces()}
    if stress and atoms.pbc.all():
        results["stress"] = probe.get_stress()
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def untagged(atoms):
    del atoms.arrays["tags"]
    return atoms


def slab():
    return fcc111("Cu", (2, 2, 2), vacuum=4.0)  # info holds a dict (skipped)


def grown():
    """Members of two families as the loop makes them (seed and children)."""
    augmenter = Augmenter(EMT(), n_per_structure=4, seed=3, cell_sigma=0.02)
    return list(augmenter.run([cu_cell(0), cu_cluster(1)]))


def unusual_info(atoms, *, exotic=False):
    """Info values the fast comment line formats; ``exotic`` adds some it leaves."""
    atoms.info.update(
        {
            "name": "two words",
            "quoted": 'say "hi" {x}',
            "empty": "",
            "np_int": np.int32(7),
            "np_float": np.float32(0.1),
            "big": 1e20,
            "small": 1e-7,
            "vector": np.array([1.5, -2.0, 3e-9]),
            "ints": np.array([1, 2]),
            "mask": np.array([True, False]),
            "virial": np.arange(9.0).reshape(3, 3),
        }
    )
    if exotic:
        atoms.info.update({"flag": True, "nested": {"a": 1}, "none": None})
    return atoms


CASES = {
    "members": grown,
    "molecule": lambda: [labelled(untagged(cu_cluster(0)))],
    "slab": lambda: [labelled(untagged(slab()))],
    "tags": lambda: [labelled(slab())],
    "no stress": lambda: [labelled(cu_cell(2), stress=False)],
    "3x3 stress": lambda: [labelled(cu_cell(3))],
    "unusual info": lambda: [labelled(unusual_info(cu_cell(4)))],
    "exotic info": lambda: [labelled(unusual_info(cu_cell(4), exotic=True))],
    "extra arrays": lambda: [labelled(molecule("CH4"))],
    "constraint": lambda: [labelled(cu_cell(5))],
}


@pytest.mark.filterwarnings("ignore:Skipping unhashable information")
@pytest.mark.parametrize("case", CASES)
def test_extxyz_text_is_ases_byte_for_byte(case):
    frames = CASES[case]()
    if case == "3x3 stress":
        calc = frames[0].calc
        calc.results["stress"] = np.diag(calc.results["stress"][:3])
    if case == "extra arrays":
        frames[0].set_initial_magnetic_moments(np.ones(len(frames[0])))
    if case == "constraint":
        frames[0].set_constraint(FixAtoms(indices=[0]))
    text = ExtxyzText()
    for atoms in frames:
        assert text(atoms) == ase_text(atoms)
        assert text(atoms) == ase_text(atoms)  # the checked kind: fast path alone
    fast = ExtxyzText()._fast_text(frames[0])
    assert (fast is None) == (case in ("tags", "extra arrays", "constraint"))


def test_extxyz_text_goes_to_ase_when_the_fast_text_differs(monkeypatch):
    frames = grown()
    text = ExtxyzText()
    monkeypatch.setattr(ExtxyzText, "_fast_text", lambda self, atoms: "wrong\n")
    assert [text(a) for a in frames] == [ase_text(a) for a in frames]
    assert not text._fast


def test_copy_atoms_is_atoms_copy():
    for atoms in (cu_cell(0), cu_cluster(0), slab()):
        atoms.info["key"] = [1, 2]
        atoms.calc = EMT()
        copy, reference = copy_atoms(atoms), atoms.copy()
        assert pickle.dumps(copy) == pickle.dumps(reference)
        assert copy.calc is None
        assert copy.info["key"] is atoms.info["key"]  # info is copied shallowly
        copy.positions[0] += 1.0
        copy.cell[0, 0] += 1.0
        copy.pbc[0] = not copy.pbc[0]
        copy.info["new"] = 1
        assert pickle.dumps(atoms.copy()) == pickle.dumps(reference)  # untouched


def test_copy_atoms_leaves_other_atoms_to_ase():
    constrained = cu_cell(0)
    constrained.set_constraint(FixAtoms(indices=[1]))
    copy = copy_atoms(constrained)
    assert copy.constraints[0] is not constrained.constraints[0]
    assert pickle.dumps(copy) == pickle.dumps(constrained.copy())

    class Special(Atoms):
        pass

    assert type(copy_atoms(Special("Cu", cell=[2, 2, 2]))) is Special


def test_single_point_keeps_its_own_snapshot():
    atoms = cu_cell(0)
    labels = {"energy": 1.5, "forces": np.ones((len(atoms), 3))}
    calc = single_point(atoms, labels)
    reference = SinglePointCalculator(atoms, **labels)
    assert pickle.dumps(calc) == pickle.dumps(reference)
    atoms.calc = calc
    assert atoms.get_potential_energy() == 1.5
    labels["forces"][0] = 7.0  # the labels were copied
    assert atoms.get_forces()[0, 0] == 1.0
    atoms.positions[0] += 0.1  # the snapshot sees the change
    assert calc.check_state(atoms) == ["positions"]


def test_changes_are_check_states():
    calc = EMT()
    atoms = cu_cell(0)
    calc.calculate(atoms, ["energy"], all_changes)
    for change in ("none", "tiny", "moved", "cell", "numbers", "magmoms", "nan"):
        probe = atoms.copy()
        if change == "tiny":
            probe.positions[3, 1] += 1e-16
        elif change == "moved":
            probe.positions[3] += 1e-3
        elif change == "cell":
            probe.cell[0, 0] += 1e-3
        elif change == "numbers":
            probe.numbers[0] = 28
        elif change == "magmoms":
            probe.set_initial_magnetic_moments(np.ones(len(probe)))
        elif change == "nan":
            probe.positions[0, 0] = np.nan
        assert sorted(_changes(calc, probe)) == sorted(calc.check_state(probe))
    calc.reset()
    assert _changes(calc, atoms) == calc.check_state(atoms)


def test_max_force_edge_cases():
    assert max_force(np.zeros((0, 3))) == 0.0
    assert np.isnan(max_force(np.array([[np.nan, 0.0, 0.0], [1.0, 0.0, 0.0]])))
    assert np.isnan(max_force(np.array([[-np.inf, 0.0, 0.0]])))
    assert max_force(np.array([[1e200, 0.0, 0.0]])) == np.inf  # finite, overflows


def test_fractional_raises_for_a_singular_cell():
    with pytest.raises(np.linalg.LinAlgError), pytest.warns(RuntimeWarning):
        fractional(
            np.ones((2, 3)), np.diag([1.0, 1.0, 0.0]), full=np.eye(3) * [1, 1, 0]
        )


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pbc=st.tuples(*[st.booleans()] * 3))
def test_vectorised_steps_are_bitwise_the_plain_ones(seed, pbc):
    rng = np.random.default_rng(seed)
    n_atoms = int(rng.integers(1, 40))
    reference = np.diag(rng.uniform(2, 20, 3)) + rng.normal(0, 0.5, (3, 3))
    normals = rng.standard_normal((3, 3))
    expected = strain_cell(reference, np.array(pbc), normals, 0.02)
    lengths = np.linalg.norm(reference, axis=1, keepdims=True)
    mask = np.asarray(pbc, dtype=float)[:, None]
    plain = reference + 0.02 * lengths * normals * mask  # the original formula
    np.testing.assert_array_equal(expected, plain)
    np.testing.assert_array_equal(
        StrainDraw(reference, np.array(pbc), 0.02)(normals), plain
    )

    positions = rng.uniform(-30, 30, (n_atoms, 3))
    sigma = float(rng.uniform(0.001, 0.5))
    noise = rng.standard_normal((n_atoms, 3))
    displacement = sigma * noise
    plain = np.round(positions + (displacement - displacement.mean(axis=0)), 8)
    np.testing.assert_array_equal(quantize(positions + rattle(noise, sigma)), plain)
    np.testing.assert_array_equal(rattled(positions, noise.copy(), sigma), plain)

    forces = rng.normal(0, 10.0 ** rng.uniform(-8, 3), (n_atoms, 3))
    norms = np.linalg.norm(forces, axis=1, keepdims=True)
    plain = positions + 0.01 * forces / np.maximum(norms, 1e-6)
    np.testing.assert_array_equal(relax_step(positions, forces, 0.01), plain)

    uniform = float(rng.random())
    log_low = np.log(0.01)
    plain = float(np.exp(log_low + (np.log(0.1) - log_low) * uniform))
    assert log_uniform(uniform, 0.01, 0.1) == plain == LogUniform(0.01, 0.1)(uniform)

    probabilities = rng.dirichlet(np.ones(int(rng.integers(1, 30))))
    cdf = np.cumsum(probabilities)
    plain = int(np.searchsorted(cdf / cdf[-1], uniform, side="right"))
    assert choose_index(probabilities, uniform) == plain
    assert choose_index(probabilities, uniform, cdf=cumulative(probabilities)) == plain

    cell = reference * np.array(pbc)[:, None]  # zero rows on vacuum axes
    from ase.cell import Cell

    plain = np.linalg.solve(Cell(cell).complete().T, positions.T).T
    np.testing.assert_array_equal(fractional(positions, cell), plain)
