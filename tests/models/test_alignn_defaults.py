"""asegen's default ALIGNN force field: what it sees, and what checkpoints keep.

The defaults were chosen on accuracy per second (docs/benchmarks.md); these
tests hold the physics that the choice must not lose: a unary model trained
with them has non-zero forces equal to minus the energy gradient, every atom of
an open Pd-O structure has neighbours within the default cutoff, and a
checkpoint keeps the architecture it stored, whatever the defaults are now.
"""

import numpy as np
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from click.testing import CliRunner

import asegen
import asegen.pretrained as pretrained
from asegen.calculators import ALIGNNCalculator
from asegen.cli import main
from asegen.graph import neighbor_list
from asegen.models.alignn import ALIGNN, ALIGNNConfig
from asegen.testing import assert_forces_match_fd

SEEDS = "examples/data/pdo_seeds.xyz"


def cu_images() -> list:
    """Six rattled, strained fcc Cu cells labelled by EMT."""
    images = []
    for k in range(6):
        atoms = bulk("Cu", cubic=True, a=3.5 + 0.05 * k)
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    return images


def test_default_model_trained_on_one_element_has_exact_nonzero_forces(tmp_path):
    write(tmp_path / "cu.xyz", cu_images())
    args = ["train", "alignn", "--data", str(tmp_path / "cu.xyz"), "--epochs", "1"]
    args += ["--set", "train.n_val=1", "--set", "train.n_test=1"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "logs")])
    assert result.exit_code == 0, result.output
    calc = ALIGNNCalculator.load(tmp_path / "logs" / "version_0", device="cpu",
                                 dtype="float64")  # fmt: skip
    assert calc.model.config == ALIGNNConfig()
    atoms = bulk("Cu", cubic=True, a=3.6)
    atoms.positions += np.random.default_rng(0).normal(0.0, 0.05, (len(atoms), 3))
    atoms.calc = calc
    assert np.abs(atoms.get_forces()).max() > 1e-4
    assert_forces_match_fd(calc, atoms)
    energies = []
    for scale in (0.95, 1.0, 1.05):
        strained = atoms.copy()
        strained.set_cell(atoms.cell * scale, scale_atoms=True)
        strained.calc = calc
        energies.append(strained.get_potential_energy())
    assert np.ptp(energies) > 1e-3


def test_every_atom_of_open_pdo_structures_has_neighbours_within_the_cutoff():
    config = ALIGNNConfig()
    open_ones = {int(a.pbc.sum()): a for a in read(SEEDS, index=":")}
    for atoms in (open_ones[0], open_ones[2]):  # the Pd6O4 cluster, the O/Pd slab
        counts = np.bincount(neighbor_list(atoms, cutoff=config.cutoff)[0],
                             minlength=len(atoms))  # fmt: skip
        assert counts.min() >= 3, atoms.get_chemical_formula()
        angles = np.bincount(
            neighbor_list(atoms, cutoff=config.three_body_cutoff)[0],
            minlength=len(atoms),
        )
        assert angles.min() >= 2, atoms.get_chemical_formula()  # an angle each
    cluster = open_ones[0].copy()
    cluster.rattle(0.03, seed=1)
    calc = ALIGNNCalculator(ALIGNN(config), device="cpu", dtype="float64")
    cluster.calc = calc
    assert np.abs(cluster.get_forces()).max() > 1e-4
    assert_forces_match_fd(calc, cluster)


def test_checkpoints_keep_the_architecture_they_stored():
    stored = torch.load(pretrained.checkpoint("pdo"), weights_only=True)
    stored = stored["hparams"]["config"]
    model = asegen.load("pdo").model
    assert model.config == ALIGNNConfig(**stored)
    assert (model.config.cutoff, model.config.alignn_layers) == (5.0, 2)
    assert len(model.alignn_layers) == stored["alignn_layers"]
