"""ALIGNNCalculator under ASE's optimizers, MD and cell filters."""

import numpy as np
import pytest
import torch
from ase import units
from ase.build import bulk
from ase.constraints import FixAtoms
from ase.filters import FrechetCellFilter
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS
from calculator_factories import alignn_calculator, alignn_model

from asegen.calculators import ALIGNNCalculator
from asegen.errors import DataFormatError, InputNotFoundError, StructureError
from asegen.models.checkpoint import save_checkpoint


def copper(repeat=(2, 1, 1), seed=0):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(repeat)
    atoms.symbols[::3] = "Au"
    atoms.rattle(0.1, seed=seed)
    return atoms


def test_bfgs_with_fixed_atoms_lowers_energy_and_keeps_them_still():
    atoms = copper()
    atoms.set_constraint(FixAtoms(indices=[0, 1]))
    atoms.calc = alignn_calculator()
    start = atoms.get_potential_energy()
    fixed = atoms.positions[:2].copy()
    BFGS(atoms, logfile=None).run(fmax=0.05, steps=30)
    assert atoms.get_potential_energy() < start
    np.testing.assert_array_equal(atoms.positions[:2], fixed)


def test_cell_filter_relaxation_lowers_enthalpy():
    atoms = copper()
    atoms.calc = alignn_calculator()
    start = atoms.get_potential_energy()
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=0.05, steps=20)
    assert atoms.get_potential_energy() < start
    assert not np.allclose(atoms.cell.lengths(), copper().cell.lengths())


def test_nve_md_conserves_energy_and_reuses_neighbours():
    atoms = copper(repeat=(2, 2, 1))
    calc = alignn_calculator()
    atoms.calc = calc
    masses = atoms.get_masses()[:, None]
    kt = 300 * units.kB
    rng = np.random.default_rng(0)
    atoms.set_momenta(rng.normal(size=(len(atoms), 3)) * np.sqrt(masses * kt))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs, logfile=None)
    totals = []
    dyn.attach(lambda: totals.append(atoms.get_total_energy()), interval=1)
    dyn.run(40)
    drift = np.abs(np.array(totals) - totals[0]).max()
    assert drift < 2e-3 * len(atoms) ** 0.5
    assert calc._neighbors.searches < 10  # the skin list is reused across steps


@pytest.mark.parametrize("neighbors", ["matscipy", "torch"])
def test_coincident_atoms_are_refused_naming_them(neighbors):
    calc = ALIGNNCalculator(alignn_model(), device="cpu", neighbors=neighbors)
    atoms = copper()
    atoms.positions[5] = atoms.positions[2] + [0.03, 0.0, 0.0]
    atoms.calc = calc
    with pytest.raises(StructureError, match=r"atoms 2 and 5 0\.03 Å apart"):
        atoms.get_potential_energy()
    images = [copper(seed=1), atoms]
    with pytest.raises(StructureError, match=r"structure 1 \(Au3Cu5\) has atoms 2"):
        calc.calculate_batch(images)
    atoms.positions[5] = atoms.positions[2] + [0.15, 0.0, 0.0]  # close, not coincident
    assert np.isfinite(atoms.get_potential_energy())
    periodic = bulk("Cu", "sc", a=3.0)  # an atom next to its own image stays valid
    periodic.calc = calc
    assert np.isfinite(periodic.get_potential_energy())


def test_load_from_checkpoint_and_run_directory(tmp_path):
    model = alignn_model()
    save_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt", model)
    atoms = copper()
    direct = ALIGNNCalculator(model, device="cpu", dtype=torch.float64)
    loaded = ALIGNNCalculator.load(tmp_path / "run", device="cpu", dtype=torch.float64)
    a, b = atoms.copy(), atoms.copy()
    a.calc, b.calc = direct, loaded
    assert a.get_potential_energy() == pytest.approx(
        b.get_potential_energy(), abs=1e-12
    )
    np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-12)


def test_load_errors_are_one_line(tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist"):
        ALIGNNCalculator.load(tmp_path / "missing.pt")
    with pytest.raises(InputNotFoundError, match=r"checkpoints/best\.pt"):
        ALIGNNCalculator.load(tmp_path)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DataFormatError, match="not a torch checkpoint"):
        ALIGNNCalculator.load(bad)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format_version": 1, "code": object()}, pickled)
    with pytest.raises(DataFormatError, match="holds pickled code"):
        ALIGNNCalculator.load(pickled)  # weights_only refuses arbitrary objects


def test_stress_absent_for_slabs_and_molecules():
    from asegen.testing import make_molecule, make_slab

    calc = alignn_calculator()
    for atoms in (make_slab(), make_molecule()):
        atoms.calc = calc
        atoms.get_forces()
        assert "stress" not in calc.results


def test_trained_heads_are_results_of_the_same_evaluation():
    from asegen.graph import atoms_to_graph

    calc = alignn_calculator(atomwise_output_features=2, additional_output_features=3)
    assert {"atomwise", "additional"} <= set(calc.implemented_properties)
    images = [copper(seed=0), copper(repeat=(1, 1, 1), seed=1)]
    model = calc.model
    graph = atoms_to_graph(images, **model.graph_options(), dtype=torch.float64)
    with torch.no_grad():
        direct = model(graph)
    atoms = images[0]
    atoms.calc = calc
    atomwise = calc.get_property("atomwise", atoms)
    assert atomwise.shape == (len(atoms), 2)
    np.testing.assert_allclose(atomwise, direct["atomwise"][: len(atoms)], atol=1e-12)
    np.testing.assert_allclose(
        calc.get_property("additional", atoms), direct["additional"][0], atol=1e-12
    )
    batch = calc.calculate_batch(images)
    np.testing.assert_allclose(batch[1]["atomwise"], direct["atomwise"][len(atoms) :])
    np.testing.assert_allclose(batch[1]["additional"], direct["additional"][1])
    plain = alignn_calculator()
    assert "atomwise" not in plain.implemented_properties
    atoms.calc = plain
    atoms.get_potential_energy()
    assert not {"atomwise", "additional"} & set(plain.results)
