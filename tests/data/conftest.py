"""Structures and an equality check shared by the asegen.data tests."""

import hashlib

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms


def make_bulk(seed=0):
    """A rattled periodic Cu cell with every kind of data the format stores."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=seed)
    n = len(atoms)
    atoms.info.update(
        step=7,
        temperature=300.5,
        converged=True,
        config_type="bulk",
        history=[1, 2.5, "three"],
        settings={"kpts": [4, 4, 4], "smearing": None},
        parent=None,
        matrix=np.arange(6.0).reshape(2, 3),
    )
    atoms.set_tags(np.arange(n))
    atoms.set_initial_magnetic_moments(rng.normal(size=n))
    atoms.set_momenta(rng.normal(size=(n, 3)))
    atoms.new_array("site_label", np.array([f"s{k}" for k in range(n)]))
    atoms.set_constraint(FixAtoms(indices=[0, 3]))
    atoms.calc = SinglePointCalculator(
        atoms,
        energy=-3.5 * n,
        free_energy=-3.6 * n,
        forces=rng.normal(size=(n, 3)),
        stress=rng.normal(size=6),
    )
    return atoms


def make_slab():
    """A Pt(111) slab, periodic in x and y only, bottom layer fixed, no stress."""
    atoms = fcc111("Pt", size=(2, 2, 3), vacuum=6.0)
    atoms.set_constraint(FixAtoms(mask=atoms.positions[:, 2] < 7.0))
    rng = np.random.default_rng(1)
    atoms.calc = SinglePointCalculator(
        atoms, energy=-60.0, forces=rng.normal(size=(len(atoms), 3))
    )
    return atoms


def make_molecule():
    """A water molecule: zero cell, no periodicity, no labels, no info."""
    atoms = molecule("H2O")
    assert not atoms.cell.any()
    return atoms


def make_mixed(count=12):
    """Structures of which only some carry forces and stress, one label-free."""
    rng = np.random.default_rng(2)
    images = []
    for k in range(count):
        n = 2 + k % 5
        atoms = Atoms(
            numbers=rng.integers(1, 30, n),
            positions=rng.uniform(0, 6, (n, 3)),
            cell=np.diag([6.0, 6.5, 7.0]),
            pbc=True,
        )
        atoms.info["index"] = k
        results = {"energy": float(rng.normal())}
        if k % 3 != 1:
            results["forces"] = rng.normal(size=(n, 3))
        if k % 3 == 0:
            results["stress"] = rng.normal(size=6)
        if k != 5:
            atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    return images


@pytest.fixture
def structures():
    """A bulk cell, a slab and a molecule."""
    return [make_bulk(), make_slab(), make_molecule()]


@pytest.fixture
def mixed():
    """Twelve structures with partial labels."""
    return make_mixed()


@pytest.fixture(name="make_mixed")
def make_mixed_fixture():
    """The factory behind ``mixed``, for other sizes."""
    return make_mixed


def _plain(value):
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.asarray(value.tolist())  # extxyz reads strings as objects
    return value.item() if isinstance(value, np.generic) else value


def assert_same_value(expected, actual, where="value"):
    """Equal values of equal Python types (NumPy scalars count as Python ones)."""
    expected, actual = _plain(expected), _plain(actual)
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), where
        assert actual.dtype.kind == expected.dtype.kind, where
        np.testing.assert_array_equal(actual, expected, err_msg=where)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert actual.keys() == expected.keys(), where
        for key in expected:
            assert_same_value(expected[key], actual[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), where
        for k, (first, second) in enumerate(zip(expected, actual, strict=True)):
            assert_same_value(first, second, f"{where}[{k}]")
    else:
        assert type(actual) is type(expected), (where, expected, actual)
        assert actual == expected, where


def assert_same_atoms(expected, actual):
    """Check every part of a structure the format stores."""
    assert actual.numbers.tolist() == expected.numbers.tolist()
    np.testing.assert_array_equal(actual.positions, expected.positions)
    np.testing.assert_array_equal(actual.cell.array, expected.cell.array)
    assert actual.pbc.tolist() == expected.pbc.tolist()
    assert_same_value(expected.info, actual.info, "info")
    assert actual.arrays.keys() == expected.arrays.keys()
    for name in expected.arrays:
        assert_same_value(expected.arrays[name], actual.arrays[name], name)
    expected_fixed = [c.get_indices().tolist() for c in expected.constraints]
    assert [c.get_indices().tolist() for c in actual.constraints] == expected_fixed
    if expected.calc is None:
        assert actual.calc is None
        return
    assert actual.calc.results.keys() == expected.calc.results.keys()
    for name, value in expected.calc.results.items():
        assert_same_value(value, actual.calc.results[name], name)
    # the calculator's copy matches: ASE hands the labels out through getters
    assert actual.get_potential_energy() == expected.get_potential_energy()


@pytest.fixture(name="assert_same_atoms")
def assert_same_atoms_fixture():
    """The structure equality check, for test modules."""
    return assert_same_atoms


@pytest.fixture(name="digest")
def digest_fixture():
    """Return a function giving the MD5 of a file's bytes."""
    return lambda path: hashlib.md5(path.read_bytes()).hexdigest()
