"""A tiny trained placer shared by the placer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.io import write

TINY = {
    "n_atom_basis": 16,
    "n_interactions": 2,
    "n_filters": 16,
    "n_rbf": 10,
    "type_prediction_n_layers": 2,
    "type_prediction_n_hidden": 32,
    "distance_prediction_n_layers": 2,
    "distance_prediction_n_hidden": 32,
    "model_cutoff": 4.0,
}


def small_molecules(n: int, seed: int = 0) -> list[Atoms]:
    """Rattled copies of H2O, NH3 and CH4, each with its gap-like label."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        name = ("H2O", "NH3", "CH4")[k % 3]
        atoms = molecule(name)
        atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
        atoms.info["gap"] = float(len(atoms))
        out.append(atoms)
    return out


@pytest.fixture(scope="session")
def molecules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An extxyz file of 30 small molecules."""
    path = tmp_path_factory.mktemp("placer-data") / "molecules.xyz"
    write(path, small_molecules(30))
    return path


@pytest.fixture(scope="session")
def trained_run(molecules_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny placer trained for a few seconds on the small molecules."""
    from asegen.train.runner import train_from_config

    out = tmp_path_factory.mktemp("placer-run")
    config = {
        "model": TINY,
        "train": {"epochs": 40, "batch_size": 32, "learning_rate": 5e-3, "seed": 0},
    }
    return train_from_config(
        "gschnet", config, data=molecules_file, out=out, progress=False
    )
