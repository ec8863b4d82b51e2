"""Universal ML potentials that ship their weights, as augment labelers.

specs/augment.md, section 6: CHGNet and SevenNet install from the package
index and load offline, so they test "any ASE calculator" on real models.
Each test runs only where its package is installed (``make labelers`` makes
a virtualenv per package and runs this file there); the default suite skips
them.
"""

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from augment_helpers import assert_labels_fresh, run_ok, write_config

from asegen.augment.specs import build_calculator

LABELERS = {
    "chgnet": "+chgnet.model.dynamics.CHGNetCalculator()",
    "sevenn": {"+sevenn.calculator.SevenNetCalculator": {"model": "7net-0"}},
}


def silicon(seed):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.positions += np.random.default_rng(seed).normal(0.0, 0.05, (8, 3))
    return atoms


@pytest.mark.parametrize("package", LABELERS)
def test_an_anchor_config_runs_with_a_universal_labeler(package, tmp_path, monkeypatch):
    pytest.importorskip(package)
    monkeypatch.chdir(tmp_path)
    ase.io.write(tmp_path / "inputs.xyz", [silicon(0), silicon(1)])
    config = write_config(
        tmp_path,
        calculator=LABELERS[package],
        n_per_structure=3,
        max_relax_steps=3,
        cell_sigma=0.02,
        similarity_threshold=0.01,
    )
    run_ok("augment", config)
    written = ase.io.read(tmp_path / "out.xyz", index=":")
    starts = [atoms.info["starting-structure"] for atoms in written]
    assert starts == [0, 0, 0, 1, 1, 1]
    calc = build_calculator(LABELERS[package])
    for atoms in written:
        # float32 models: a fresh call agrees to round-off, not bit for bit
        assert_labels_fresh(atoms, calc, atol=1e-4)
    cells = {atoms.cell.array.tobytes() for atoms in written}
    assert len(cells) > 2  # cell_sigma strained the children
