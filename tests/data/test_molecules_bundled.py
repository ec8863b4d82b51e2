"""The bundled molecule reference set (scripts/make_molecules.py) is what it claims."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from ase.neighborlist import natural_cutoffs, neighbor_list
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from asegen.data import read

FOLDER = Path(__file__).parents[2] / "examples" / "data" / "molecules"
SPLITS = ("train", "val", "test")
MAX_HEAVY = 9


@pytest.fixture(scope="module")
def splits():
    return {name: read(FOLDER / f"molecules_{name}.h5") for name in SPLITS}


@pytest.fixture(scope="module")
def manifest():
    return json.loads((FOLDER / "molecules_manifest.json").read_text())


def fragments(atoms, factor=1.2):
    """Connected components of the covalent-radius graph (radii x factor)."""
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=factor))
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(atoms),) * 2)
    return connected_components(graph, directed=False)[0]


def test_bundle_is_small_and_matches_its_manifest(splits, manifest):
    size = sum(p.stat().st_size for p in FOLDER.iterdir())
    assert size <= 5 * 1024**2
    assert manifest["max_heavy"] == MAX_HEAVY
    for name in SPLITS:
        assert len(splits[name]) == manifest["splits"][name]["molecules"]
    assert sum(len(s) for s in splits.values()) == manifest["molecules"] >= 1000


def test_molecules_are_small_organic_and_connected(splits):
    for images in splits.values():
        for atoms in images:
            symbols = set(atoms.get_chemical_symbols())
            assert symbols <= {"H", "C", "N", "O", "F"}
            heavy = int(np.count_nonzero(atoms.numbers > 1))
            assert 1 <= heavy <= MAX_HEAVY
            assert atoms.info["n_heavy"] == heavy
            assert not atoms.pbc.any()
            assert fragments(atoms) == 1, atoms.info["smiles"]


def test_every_molecule_has_smiles_and_properties(splits):
    for images in splits.values():
        for atoms in images:
            assert isinstance(atoms.info["smiles"], str)
            assert atoms.info["smiles"]
            assert "." not in atoms.info["smiles"]
            for key in ("gap", "xtb_energy", "mmff_energy", "qm9_gap"):
                assert math.isfinite(atoms.info[key]), key
            assert 0 < atoms.info["gap"] < 20  # eV
            assert atoms.info["xtb_energy"] < 0
            assert "energy" not in atoms.info


def test_splits_do_not_share_molecules(splits):
    smiles = {name: [a.info["smiles"] for a in splits[name]] for name in SPLITS}
    for name in SPLITS:
        assert len(set(smiles[name])) == len(smiles[name])
    assert not set(smiles["train"]) & set(smiles["val"])
    assert not set(smiles["train"]) & set(smiles["test"])
    assert not set(smiles["val"]) & set(smiles["test"])
