"""Bad structures: each command and the calculator name the structure and the flaw."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from catalogue_helpers import api_refused, refused
from conftest import structures, write_yaml

import asegen
from asegen.data import read_structures
from asegen.data import write as write_h5


def _nan_position(images):
    images[3].positions[1, 2] = np.nan


def _inf_position(images):
    images[3].positions[0, 0] = np.inf


def _flat_cell(images):
    cell = images[3].cell.array.copy()
    cell[2] = cell[0]
    images[3].set_cell(cell)


def _no_cell(images):
    images[3].set_cell(np.zeros((3, 3)))


def _overlap(images):
    images[3].positions[1] = images[3].positions[0]


def _z0(images):
    images[3].numbers[0] = 0


def _empty(images):
    images[3] = Atoms(cell=images[3].cell, pbc=True)


def _nan_energy(images):
    atoms = images[3]
    atoms.calc = SinglePointCalculator(
        atoms, energy=np.nan, forces=atoms.calc.results["forces"]
    )


def _inf_forces(images):
    atoms = images[3]
    forces = np.full((len(atoms), 3), np.inf)
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=forces)


SPOILS = {
    "nan position": (_nan_position, ["3", "position"]),
    "inf position": (_inf_position, ["3", "position"]),
    "flat cell": (_flat_cell, ["3", "cell"]),
    "no cell but periodic": (_no_cell, ["3", "periodic"]),
    "overlapping atoms": (_overlap, ["3"]),
    "Z=0": (_z0, ["3"]),
    "no atoms": (_empty, ["3", "no atoms"]),
}
LABEL_SPOILS = {
    "nan energy": (_nan_energy, ["3", "energy"]),
    "inf forces": (_inf_forces, ["3", "forces"]),
}


def _spoiled(work, spoil, name="bad.xyz"):
    images = structures()
    spoil(images)
    write(work / name, images)
    return name


def _train(name):
    return ["train", "alignn", "alignn.yaml", "--data", name, "--out", "logs"]


def _augment(work, name):
    write_yaml(work / "augment.yaml", {
        "data": {"input": name, "output": "out.xyz"},
        "config": {"n_per_structure": 2, "T": 300, "beta": 0.5, "units": "eV",
                   "sigma_range": [0.01, 0.05], "seed": 1, "max_relax_steps": 5},
        "model": {"calculator": "+ase.calculators.emt.EMT()"},
    })  # fmt: skip
    return ["augment", "augment.yaml"]


@pytest.mark.parametrize("kind", [*SPOILS, *LABEL_SPOILS])
def test_training_refuses_a_bad_structure_naming_its_index(work, kind):
    spoil, names = {**SPOILS, **LABEL_SPOILS}[kind]
    name = _spoiled(work, spoil)
    refused(_train(name), name, *names)


@pytest.mark.parametrize("kind", list(SPOILS))
def test_augment_refuses_a_bad_starting_structure_naming_it(work, kind):
    spoil, names = SPOILS[kind]
    name = _spoiled(work, spoil)
    refused(_augment(work, name), name, *names)


CALCULATOR_CASES = [
    "nan position", "inf position", "flat cell", "no cell but periodic", "Z=0",
    "overlapping atoms",
]  # fmt: skip


@pytest.mark.parametrize("kind", CALCULATOR_CASES)
def test_the_calculator_refuses_a_bad_structure(work, trained, kind):
    spoil, names = SPOILS[kind]
    images = structures(4)
    spoil(images)
    atoms = images[3]
    atoms.calc = asegen.load(trained["alignn"], device="cpu")
    api_refused(atoms.get_potential_energy, *names[1:])


def test_the_calculator_gives_a_structure_without_atoms_zero_energy(trained):
    atoms = Atoms(cell=[4.0, 4.0, 4.0], pbc=True)
    atoms.calc = asegen.load(trained["alignn"], device="cpu")
    assert atoms.get_potential_energy() == 0.0
    assert atoms.get_forces().shape == (0, 3)


@pytest.mark.parametrize("kind", ["nan position", "flat cell", "Z=0"])
def test_sample_refuses_a_bad_template(work, trained, kind):
    spoil, names = SPOILS[kind]
    images = structures(4)
    spoil(images)
    write(work / "template.xyz", images[3])
    run = trained["score"]
    refused(["sample", run, "--template", "template.xyz", "--formula", "Cu",
             "--steps", "2", "-n", "1"], "template.xyz", *names[1:],
            watch=[run])  # fmt: skip


@pytest.mark.parametrize("kind", ["nan position", "inf position"])
def test_convert_refuses_a_non_finite_position_naming_it(work, kind):
    spoil, names = SPOILS[kind]
    name = _spoiled(work, spoil)
    refused(["convert", name, "out.h5"], name, *names)


def test_writing_hdf5_from_python_refuses_a_nan_position(work):
    images = structures(4)
    _nan_position(images)
    api_refused(lambda: write_h5(work / "api.h5", images), "structure 3", "position")


def test_a_structure_without_atoms_round_trips_through_hdf5(work):
    images = structures(4)
    _empty(images)
    write_h5(work / "empty.h5", images)
    again = read_structures(work / "empty.h5")
    assert [len(a) for a in again] == [len(a) for a in images]
    assert len(again[3]) == 0
    assert again[3].cell.array.tolist() == images[3].cell.array.tolist()


RAW_FRAMES = {
    "count above the atoms": '3\nLattice="4 0 0 0 4 0 0 0 4" '
    'Properties=species:S:1:pos:R:3 pbc="T T T"\nCu 0 0 0\nCu 1.8 1.8 0\n',
    "short atom line": '2\nLattice="4 0 0 0 4 0 0 0 4" '
    'Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.0 pbc="T T T"\n'
    "Cu 0 0 0 0 0 0\nCu 1.8 1.8 0 0.1\n",
    "unknown symbol": '2\nLattice="4 0 0 0 4 0 0 0 4" '
    'Properties=species:S:1:pos:R:3 pbc="T T T"\nCu 0 0 0\nQq 1.8 1.8 0\n',
    "text position": '2\nLattice="4 0 0 0 4 0 0 0 4" '
    'Properties=species:S:1:pos:R:3 pbc="T T T"\nCu 0 0 0\nCu 1.8 abc 0\n',
    "bad lattice": '2\nLattice="4 0 0 0 4" '
    'Properties=species:S:1:pos:R:3 pbc="T T T"\nCu 0 0 0\nCu 1.8 1.8 0\n',
}


@pytest.mark.parametrize("command", ["info", "convert", "train"])
@pytest.mark.parametrize("kind", list(RAW_FRAMES))
def test_a_malformed_extxyz_frame_is_one_line_naming_the_file(work, command, kind):
    (work / "raw.xyz").write_text(RAW_FRAMES[kind])
    args = {"info": ["info", "raw.xyz"], "convert": ["convert", "raw.xyz", "out.h5"],
            "train": _train("raw.xyz")}[command]  # fmt: skip
    refused(args, "raw.xyz")


def test_training_data_without_labels_is_refused(work):
    images = structures()
    for atoms in images:
        atoms.calc = None
    write(work / "bare.xyz", images)
    refused(_train("bare.xyz"), "bare.xyz", "no finite energy or forces label")
