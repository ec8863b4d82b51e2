"""Structures come back from HDF5 exactly as they went in."""

import warnings

import ase.io
import h5py
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms, FixBondLength
from hypothesis import given, settings
from hypothesis import strategies as st

from asegen.data import convert, read, summarize, write
from asegen.data._layout import escape_key, unescape_key
from asegen.errors import DataFormatError


def test_bulk_slab_molecule_round_trip(tmp_path, structures, assert_same_atoms):
    path = tmp_path / "s.h5"
    assert write(path, structures) == 3
    for expected, actual in zip(structures, read(path), strict=True):
        assert_same_atoms(expected, actual)


def test_extxyz_to_hdf5_round_trip(tmp_path, structures, assert_same_atoms):
    source = tmp_path / "s.extxyz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ASE warns about the nested info dict
        ase.io.write(source, structures)
    expected = ase.io.read(source, ":")
    assert convert(source, tmp_path / "s.h5") == 3
    for want, got in zip(expected, read(tmp_path / "s.h5"), strict=True):
        assert_same_atoms(want, got)


def test_partial_labels_are_masked(tmp_path, mixed, assert_same_atoms):
    path = tmp_path / "mixed.h5"
    write(path, mixed)
    for expected, actual in zip(mixed, read(path), strict=True):
        assert_same_atoms(expected, actual)
    summary = summarize(path)
    assert summary.labels == {"energy": 11, "forces": 7, "stress": 4}
    with h5py.File(path) as file:
        present = file["results/stress/present"][:]
    assert present.tolist() == [k % 3 == 0 and k != 5 for k in range(12)]


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, 0),
        (-1, 11),
        ("3", 3),
        ("-2", 10),
        (slice(2, 8, 3), [2, 5]),
        ("::5", [0, 5, 10]),
    ],
)
def test_read_index_like_ase(tmp_path, mixed, index, expected):
    path = tmp_path / "mixed.h5"
    write(path, mixed)
    result = read(path, index)
    if isinstance(expected, list):
        assert [atoms.info["index"] for atoms in result] == expected
    else:
        assert isinstance(result, Atoms)
        assert result.info["index"] == expected


def test_info_types_and_promotion(tmp_path):
    first, second = Atoms("H"), Atoms("H")
    first.info.update(n=1, x=np.float32(0.5), flag=np.bool_(True), big=2**70, z=1j)
    second.info.update(n=2.5, x=2, flag=False, big=3, z=None)
    path = tmp_path / "info.h5"
    write(path, [first, second])
    one, two = read(path)
    assert one.info == {"n": 1.0, "x": 0.5, "flag": True, "big": 2**70, "z": 1j}
    assert two.info == {"n": 2.5, "x": 2.0, "flag": False, "big": 3, "z": None}
    assert type(one.info["n"]) is float  # int then float: the column is float
    assert type(two.info["big"]) is int  # json keeps each value's type


def test_info_kind_conflict_is_one_line(tmp_path):
    first, second = Atoms("H"), Atoms("H")
    first.info["label"] = "a"
    second.info["label"] = 3
    with pytest.raises(DataFormatError, match="info key 'label' is str") as caught:
        write(tmp_path / "bad.h5", [first, second])
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.iterdir())  # no file, no temporary left behind


@pytest.mark.parametrize("key", [0, ""])
def test_info_keys_must_be_nonempty_strings(tmp_path, key):
    atoms = Atoms("H", info={key: 1})
    with pytest.raises(DataFormatError, match="info keys must be non-empty"):
        write(tmp_path / "bad.h5", atoms)


def test_unstorable_info_value(tmp_path):
    atoms = Atoms("H", info={"thing": object()})
    with pytest.raises(DataFormatError, match=r"info\['thing'\] that cannot be stored"):
        write(tmp_path / "bad.h5", atoms)


_INFO_VALUES = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(),
    st.none(),
    st.lists(st.integers(-5, 5), max_size=4),
    st.dictionaries(st.text(max_size=5), st.floats(allow_nan=False), max_size=3),
)


@settings(max_examples=40, deadline=None)
@given(
    info=st.dictionaries(st.text(min_size=1, max_size=8), _INFO_VALUES, max_size=6),
    n_atoms=st.integers(0, 4),
)
def test_any_info_round_trips(tmp_path_factory, info, n_atoms):
    atoms = Atoms(
        numbers=[6] * n_atoms, positions=np.zeros((n_atoms, 3)), info=dict(info)
    )
    path = tmp_path_factory.mktemp("info") / "one.h5"
    write(path, atoms)
    restored = read(path, 0)
    assert restored.info.keys() == info.keys()
    for key, value in info.items():
        assert restored.info[key] == value
        assert type(restored.info[key]) is type(value)


@given(st.text(min_size=1))
def test_escape_key_round_trips_to_valid_names(key):
    name = escape_key(key)
    assert unescape_key(name) == key
    assert "/" not in name
    assert "\x00" not in name
    assert name != "."


def test_unsafe_key_names_are_escaped_in_the_file(tmp_path):
    atoms = Atoms("H", info={"a/b": 1, "100%": 2, ".": 3})
    path = tmp_path / "keys.h5"
    write(path, atoms)
    with h5py.File(path) as file:
        assert sorted(file["info"]) == ["%2E", "100%25", "a%2Fb"]
    assert read(path, 0).info == {"a/b": 1, "100%": 2, ".": 3}


def test_full_stress_is_stored_as_voigt(tmp_path):
    atoms = Atoms("H", cell=np.eye(3) * 3, pbc=True)
    full = np.array([[1.0, 6.0, 5.0], [6.0, 2.0, 4.0], [5.0, 4.0, 3.0]])
    atoms.calc = SinglePointCalculator(atoms, energy=0.0)
    atoms.calc.results["stress"] = full
    write(tmp_path / "s.h5", atoms)
    stress = read(tmp_path / "s.h5", 0).get_stress()
    np.testing.assert_array_equal(stress, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])


def test_custom_results_keep_names_scope_and_dtype(tmp_path):
    images = []
    for n in (2, 3):
        atoms = Atoms("H" * n, positions=np.arange(3.0 * n).reshape(n, 3))
        atoms.calc = SinglePointCalculator(atoms, energy=1.0)
        atoms.calc.results.update(
            latent=np.arange(4.0), charges=np.ones(n), n_steps=np.int64(n)
        )
        images.append(atoms)
    write(tmp_path / "r.h5", images)
    with h5py.File(tmp_path / "r.h5") as file:
        assert file["results/latent/value"].shape == (2, 4)
        assert file["results/charges/value"].attrs["per"] == "atom"
    restored = read(tmp_path / "r.h5", 1).calc.results
    np.testing.assert_array_equal(restored["latent"], np.arange(4.0))
    np.testing.assert_array_equal(restored["charges"], np.ones(3))
    assert restored["n_steps"] == 3
    assert type(restored["n_steps"]) is int


def test_other_constraints_warn_once_and_are_dropped(tmp_path):
    images = []
    for _ in range(3):
        atoms = Atoms("H3", positions=np.eye(3))
        atoms.set_constraint([FixAtoms([0]), FixBondLength(1, 2)])
        images.append(atoms)
    with pytest.warns(
        UserWarning, match="FixBondLengths constraints are not stored"
    ) as log:
        write(tmp_path / "c.h5", images)
    assert len(log) == 1
    assert [type(c) for c in read(tmp_path / "c.h5", 2).constraints] == [FixAtoms]


def test_results_of_moved_atoms_are_not_stored(tmp_path):
    atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 1]])
    atoms.calc = SinglePointCalculator(atoms, energy=1.0)
    atoms.positions[1, 2] = 2.0
    with pytest.warns(UserWarning, match="no longer match"):
        write(tmp_path / "m.h5", atoms)
    assert read(tmp_path / "m.h5", 0).calc is None


def test_layout_is_plain_h5py(tmp_path, structures):
    path = tmp_path / "s.h5"
    write(path, structures)
    sizes = [len(atoms) for atoms in structures]
    with h5py.File(path) as file:
        assert file.attrs["format"] == "asegen-structures"
        assert file.attrs["format_version"] == 1
        assert file.attrs["n_structures"] == 3
        assert file["structures/n_atoms"][:].tolist() == sizes
        assert file["structures/offset"][:].tolist() == [0, sizes[0], sum(sizes[:2])]
        assert file["atoms/positions"].shape == (sum(sizes), 3)
        assert file["structures/cell"].attrs["unit"] == "Å"
        assert file["results/forces/value"].attrs["unit"] == "eV/Å"
        assert file["results/energy/present"][:].tolist() == [True, True, False]
        slab = slice(sizes[0], sizes[0] + sizes[1])
        np.testing.assert_array_equal(
            file["atoms/positions"][slab], structures[1].positions
        )
        assert file["info/config_type/value"].attrs["kind"] == "str"
        assert file["constraints/fixed/value"][: sizes[0]].sum() == 2
