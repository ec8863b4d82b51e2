"""alignn's four documented example configs train unchanged (asegen train alignn).

The configs are those of alignn's configuration reference (alignn 2026.8.11),
verbatim; only the epochs are overridden, with ``--epochs``.
"""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from click.testing import CliRunner

from asegen.calculators import ALIGNNCalculator
from asegen.cli import main
from asegen.testing import assert_forces_match_fd

DATA = "examples/data/cu_au_emt.xyz"
# alignn's default num_workers (4) is kept: the configs train unchanged
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")

PROPERTY_REGRESSION = {
    "dataset": "user_data", "target": "formation_energy_peratom",
    "atom_features": "cgcnn", "neighbor_strategy": "k-nearest", "cutoff": 8.0,
    "max_neighbors": 12, "epochs": 100, "batch_size": 32, "learning_rate": 0.001,
    "criterion": "mse",
    "model": {
        "name": "alignn_atomwise", "atom_input_features": 92, "alignn_layers": 4,
        "gcn_layers": 4, "hidden_features": 256, "output_features": 1,
        "calculate_gradient": False, "graphwise_weight": 1.0, "gradwise_weight": 0.0,
        "stresswise_weight": 0.0, "use_penalty": False,
    },
}  # fmt: skip
FORCE_FIELD = {
    "dataset": "user_data", "target": "target", "atom_features": "cgcnn",
    "neighbor_strategy": "fast_graph", "cutoff": 6.0, "max_neighbors": 12,
    "epochs": 200, "batch_size": 2, "learning_rate": 0.001, "criterion": "l1",
    "model": {
        "name": "alignn_atomwise", "atom_input_features": 92, "alignn_layers": 3,
        "gcn_layers": 3, "hidden_features": 128, "output_features": 1,
        "calculate_gradient": True, "graphwise_weight": 0.85, "gradwise_weight": 0.05,
        "stresswise_weight": 0.05, "add_reverse_forces": True, "lg_on_fly": True,
        "use_penalty": True,
    },
}  # fmt: skip
PURE_TORCH_FORCE_FIELD = {
    **FORCE_FIELD,
    "neighbor_strategy": "pure_torch",
    "model": {**FORCE_FIELD["model"], "name": "alignn_atomwise_pure"},
    "three_body_cutoff": 4.0,
}
CLASSIFICATION = {
    "classification_threshold": 0.01, "target": "is_metal", "criterion": "mse",
    "model": {
        "name": "alignn_atomwise", "classification": True, "graphwise_weight": 1.0,
        "gradwise_weight": 0.0, "calculate_gradient": False,
    },
}  # fmt: skip

CONFIGS = {
    "property_regression": PROPERTY_REGRESSION,
    "force_field": FORCE_FIELD,
    "pure_torch_force_field": PURE_TORCH_FORCE_FIELD,
    "classification": CLASSIFICATION,
}


def train_cli(tmp_path, config, data):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    args = ["train", "alignn", str(path), "--data", str(data), "--epochs", "1"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "logs")])
    assert result.exit_code == 0, result.output
    return tmp_path / "logs" / "version_0"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_documented_alignn_configs_train_unchanged(tmp_path, name):
    images = read(DATA, index=":10")
    for atoms in images:  # property targets: regression and a 0/1 class
        atoms.info["target"] = float(np.mean(atoms.numbers == 79))
    write(tmp_path / "data.xyz", images)
    run = train_cli(tmp_path, CONFIGS[name], tmp_path / "data.xyz")
    assert (run / "metrics.csv").read_text().count("\n") == 2  # header + 1 epoch


def test_alignn_ff_config_sees_geometry_of_single_element_structures(tmp_path):
    rng = np.random.default_rng(0)
    images = []
    for k in range(6):
        atoms = bulk("Cu", cubic=True, a=3.5 + 0.05 * k)
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        results = {
            "energy": atoms.get_potential_energy(),
            "forces": atoms.get_forces(),
            "stress": atoms.get_stress(),
        }
        atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    write(tmp_path / "cu.xyz", images)
    run = train_cli(tmp_path, FORCE_FIELD, tmp_path / "cu.xyz")
    calc = ALIGNNCalculator.load(run, device="cpu", dtype="float64")
    assert calc.model.config.aggregation == "sum"
    atoms = bulk("Cu", cubic=True, a=3.6)
    atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
    atoms.calc = calc
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-4  # alignn's mean form gives ~1e-7
    assert_forces_match_fd(calc, atoms)
    energies = []
    for a in (3.4, 3.6, 3.8):
        strained = atoms.copy()
        strained.set_cell(atoms.cell * (a / 3.6), scale_atoms=True)
        strained.calc = calc
        energies.append(strained.get_potential_energy())
    assert np.ptp(energies) > 1e-3
