"""Conditions of the placer: derived values, vectors, and what users type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from conftest import TINY, small_molecules

from asegen.errors import ConfigError, DataFormatError
from asegen.models.gschnet import composition_vector
from asegen.placer import AutoregressivePlacer
from asegen.placer.conditions import (
    condition_values,
    fit_relative_energy,
    parse_condition,
)


def test_relative_energy_removes_the_composition_trend() -> None:
    """Energies linear in composition plus known offsets: the fit finds the
    offsets (mean-free), as cG-SchNet's relative atomic energy does."""
    per_atom = {1: -0.5, 6: -1.5, 7: -2.0, 8: -2.5}
    offsets = np.linspace(-0.1, 0.1, 9)
    structures = []
    for k, name in enumerate(["H2O", "NH3", "CH4"] * 3):
        atoms = molecule(name)
        energy = sum(per_atom[z] for z in atoms.numbers) + offsets[k] * len(atoms)
        atoms.calc = SinglePointCalculator(atoms, energy=energy)
        structures.append(atoms)
    fit = fit_relative_energy(structures, "training data")
    options = {"relative_atomic_energy": {"kind": "scalar"}}
    values = [
        condition_values(a, options, {"relative_atomic_energy": fit}, "s")[
            "relative_atomic_energy"
        ][0]
        for a in structures
    ]
    # per formula, the offsets minus their mean for that formula
    for first in range(3):
        expected = offsets[first::3] - offsets[first::3].mean()
        assert np.allclose(values[first::3], expected, atol=1e-9)


def test_a_missing_condition_names_the_structure() -> None:
    atoms = molecule("H2O")
    with pytest.raises(DataFormatError, match=r"structure 7 .*'gap'"):
        condition_values(atoms, {"gap": {"kind": "scalar"}}, {}, "structure 7")
    with pytest.raises(DataFormatError, match="fingerprint"):
        condition_values(
            atoms, {"fingerprint": {"kind": "vector", "size": 3}}, {}, "structure 1"
        )


def test_targets_as_users_type_them() -> None:
    composition = {"kind": "composition"}
    assert np.array_equal(
        parse_condition("composition", "C7O2H10", composition),
        composition_vector([6] * 7 + [8] * 2 + [1] * 10),
    )
    heavy = parse_condition(
        "composition", {"C": 2, "H": 6}, {"kind": "composition", "skip_h": True}
    )
    assert heavy[6] == 1.0
    assert heavy[119] == 2
    assert parse_condition("fp", [0, 1, 1], {"kind": "vector", "size": 3}).tolist() == [
        0,
        1,
        1,
    ]
    with pytest.raises(ConfigError, match="takes 3"):
        parse_condition("fp", [0, 1], {"kind": "vector", "size": 3})
    with pytest.raises(ConfigError, match="not a number"):
        parse_condition("gap", "high", {"kind": "scalar"})


def test_a_vector_condition_trains_and_samples(tmp_path: Path) -> None:
    from asegen.train.runner import train_from_config

    structures = small_molecules(9)
    for atoms in structures:
        atoms.info["fingerprint"] = [float(z in atoms.numbers) for z in (6, 7, 8)]
    write(tmp_path / "m.xyz", structures)
    config = {
        "model": TINY,
        "train": {"epochs": 1, "batch_size": 16, "seed": 0},
        "placer": {"conditions": {"fingerprint": {"kind": "vector", "size": 3}}},
    }
    run = train_from_config(
        "gschnet", config, data=tmp_path / "m.xyz", out=tmp_path, progress=False
    )
    placer = AutoregressivePlacer.load(run)
    out = placer.sample(2, {"fingerprint": [1, 0, 0]}, max_n_atoms=6, seed=0)
    assert all(a.info["fingerprint"] == [1.0, 0.0, 0.0] for a in out)
