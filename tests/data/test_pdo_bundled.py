"""The bundled Pd–O reference set (scripts/make_pdo.py) is what it claims."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.constraints import FixAtoms

from asegen.data import read

FOLDER = Path(__file__).parents[2] / "examples" / "data" / "pdo"
SPLITS = ("train", "val", "test")
KINDS = {"bulk", "slab", "cluster"}


@pytest.fixture(scope="module")
def splits():
    return {name: read(FOLDER / f"pdo_{name}.h5") for name in SPLITS}


@pytest.fixture(scope="module")
def manifest():
    return json.loads((FOLDER / "pdo_manifest.json").read_text())


def everything(splits):
    return [atoms for images in splits.values() for atoms in images]


def test_bundle_is_small_and_matches_its_manifest(splits, manifest):
    size = sum(p.stat().st_size for p in FOLDER.iterdir())
    assert size <= 5 * 1024**2
    for name in SPLITS:
        assert len(splits[name]) == manifest["splits"][name]["structures"]
    assert sum(len(s) for s in splits.values()) == manifest["structures"] >= 300
    assert manifest["versions"]["chgnet"] == "0.4.2"
    assert set(manifest["by_kind"]) == KINDS


def test_only_pd_and_o_with_finite_labels(splits):
    for atoms in everything(splits):
        assert set(atoms.get_chemical_symbols()) <= {"Pd", "O"}
        assert "Pd" in atoms.get_chemical_symbols()
        assert np.isfinite(atoms.get_potential_energy())
        forces = atoms.get_forces(apply_constraint=False)
        assert forces.shape == (len(atoms), 3)
        assert np.isfinite(forces).all()


def test_stress_exactly_on_periodic_bulk(splits):
    for atoms in everything(splits):
        kind = atoms.info["kind"]
        assert kind in KINDS
        has_stress = "stress" in atoms.calc.results
        assert has_stress == (kind == "bulk"), atoms.info["id"]
        if kind == "bulk":
            assert atoms.pbc.all()
            assert np.isfinite(atoms.get_stress()).all()
        elif kind == "slab":
            assert list(atoms.pbc) == [True, True, False]
        else:
            assert not atoms.pbc.any()


def test_slabs_have_their_bottom_layers_fixed(splits):
    slabs = [a for a in everything(splits) if a.info["kind"] == "slab"]
    assert slabs
    for atoms in slabs:
        (constraint,) = atoms.constraints
        assert isinstance(constraint, FixAtoms)
        fixed = np.zeros(len(atoms), bool)
        fixed[constraint.get_indices()] = True
        assert fixed.any()
        assert (atoms.numbers[fixed] == 46).all()  # Pd only
        # the fixed atoms are the bottom layers (below every free atom, 0.5 Å
        # allowing for the rattle of children)
        assert atoms.positions[fixed, 2].max() < atoms.positions[~fixed, 2].min() + 0.5
    for atoms in everything(splits):
        if atoms.info["kind"] != "slab":
            assert not atoms.constraints


def test_relaxed_minima_are_included_in_train(splits, manifest):
    seeds = [a for a in everything(splits) if a.info["parent"] == "root"]
    assert len(seeds) == len(manifest["seed_relaxation"]["seeds"]) == 18
    assert all(a.info["level"] == 0 for a in seeds)
    assert {a.info["system"] for a in seeds} == set(manifest["by_system"])
    train_ids = {a.info["id"] for a in splits["train"]}
    for atoms in seeds:
        assert atoms.info["id"] in train_ids
        free = np.ones(len(atoms), bool)
        for constraint in atoms.constraints:
            free[constraint.get_indices()] = False
        forces = atoms.get_forces(apply_constraint=False)[free]
        assert np.linalg.norm(forces, axis=1).max() < 0.1, atoms.info["system"]


def test_splits_are_disjoint_and_keep_branches_together(splits):
    split_of = {}
    for name, images in splits.items():
        for atoms in images:
            assert atoms.info["id"] not in split_of
            split_of[atoms.info["id"]] = name
    for atoms in everything(splits):
        if atoms.info["level"] >= 2:  # level 1: the parent is the seed, in train
            parent = atoms.info["parent"]
            assert split_of[parent] == split_of[atoms.info["id"]]
    assert all(len(images) > 0 for images in splits.values())
