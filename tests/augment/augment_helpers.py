"""Small inputs, configs and CLI helpers shared by the augment tests."""

import os
from typing import ClassVar

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from click.testing import CliRunner

from asegen.cli import main

SETTINGS = {
    "n_per_structure": 5,
    "T": 300,
    "beta": 0.5,
    "sigma_range": [0.01, 0.1],
    "seed": 42,
    "units": "eV",
}


def cu_cell(seed=0, repeat=(2, 2, 1)):
    """A strained, rattled periodic fcc Cu cell (16 atoms by default)."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    strain = np.eye(3) + rng.uniform(-0.01, 0.01, (3, 3))
    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
    return atoms


def cu_cluster(seed=0):
    """A rattled Cu13 icosahedron without a cell (a molecule)."""
    atoms = Icosahedron("Cu", 2, latticeconstant=3.61)
    atoms.positions += np.random.default_rng(seed).normal(0.0, 0.03, (len(atoms), 3))
    return atoms


def counted(base):
    """A subclass of calculator ``base`` that counts its calculate calls."""

    class Counted(base):
        calls = 0

        def calculate(self, *args, **kwargs):
            type(self).calls += 1
            super().calculate(*args, **kwargs)

    return Counted


class BatchEMT(EMT):
    """EMT with asegen's batching hook: a fresh evaluation per structure.

    ``batches`` records the size of every ``calculate_batch`` call.
    """

    batches: ClassVar[list[int]] = []

    def calculate_batch(self, images, *, batch_size=32):
        type(self).batches.append(len(images))
        results = []
        for atoms in images:
            calc = EMT()
            stress = ["stress"] if atoms.pbc.all() else []
            calc.calculate(atoms, ["energy", "forces", *stress])
            results.append(dict(calc.results))
        return results


class ThreadsEMT(EMT):
    """EMT that appends the ``OMP_NUM_THREADS`` it runs under to ``log``."""

    def __init__(self, log):
        super().__init__()
        self.log = str(log)

    def calculate(self, *args, **kwargs):
        with open(self.log, "a") as handle:
            handle.write(f"{os.environ.get('OMP_NUM_THREADS')}\n")
        super().calculate(*args, **kwargs)


class InterruptingEMT(EMT):
    """Raises KeyboardInterrupt (as Ctrl-C would) at call number ``at``."""

    def __init__(self, at):
        super().__init__()
        self.at = at
        self.calls = 0

    def calculate(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        super().calculate(*args, **kwargs)


def write_config(
    folder,
    *,
    output="out.xyz",
    calculator="+ase.calculators.emt.EMT()",
    name="config.yaml",
    **settings,
):
    """Write an anchor-schema config (data, config, model) and return its path."""
    config = {
        "data": {"input": "inputs.xyz", "output": output},
        "config": {**SETTINGS, **settings},
        "model": {"calculator": calculator},
    }
    path = folder / name
    path.write_text(yaml.safe_dump(config))
    return path


def cli(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def run_ok(*args):
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result.output


def run_fail(*args):
    """Run a command that must fail with one ``Error:`` line and exit code 2."""
    result = cli(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def fresh_labels(atoms, calc=None):
    """Energy, forces and (periodic) stress of a fresh evaluation of ``atoms``."""
    probe = atoms.copy()
    probe.calc = calc or EMT()
    labels = {"energy": probe.get_potential_energy(), "forces": probe.get_forces()}
    if atoms.pbc.all():
        labels["stress"] = probe.get_stress()
    return labels


def assert_labels_fresh(atoms, calc=None, atol=1e-10):
    """Stored labels equal a fresh evaluation (EMT unless ``calc``); stress only 3-D."""
    expected = fresh_labels(atoms, calc)
    assert atoms.get_potential_energy() == pytest.approx(expected["energy"], abs=atol)
    np.testing.assert_allclose(atoms.get_forces(), expected["forces"], atol=atol)
    if atoms.pbc.all():
        np.testing.assert_allclose(atoms.get_stress(), expected["stress"], atol=atol)
    else:
        assert "stress" not in atoms.calc.results
