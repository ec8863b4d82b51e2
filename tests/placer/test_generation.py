"""Generation with a trained placer: molecules, templates, conditions, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc100, molecule
from ase.constraints import FixAtoms
from click.testing import CliRunner
from conftest import TINY, small_molecules

import asegen
from asegen.cli import main
from asegen.errors import ConfigError
from asegen.placer import AutoregressivePlacer

BONDS = {"H2O": ("O", 0.97), "H3N": ("N", 1.02), "CH4": ("C", 1.09)}


def test_a_trained_placer_builds_the_molecules_it_learned(trained_run: Path) -> None:
    placer = asegen.load(trained_run)
    assert isinstance(placer, AutoregressivePlacer)
    batches = list(placer.batches(40, batch_size=20, max_n_atoms=10, seed=0))
    structures = [a for b in batches for a in b.structures]
    assert sum(b.attempts for b in batches) == 40
    assert len(structures) + sum(b.failed for b in batches) == 40
    assert len(structures) >= 30  # finished molecules
    learned = [a for a in structures if a.get_chemical_formula() in BONDS]
    assert len(learned) >= 0.6 * len(structures)
    for atoms in learned:  # with the bond lengths of the training molecules
        centre, length = BONDS[atoms.get_chemical_formula()]
        heavy = atoms.get_chemical_symbols().index(centre)
        d = np.delete(atoms.get_all_distances()[heavy], heavy)
        assert np.abs(d - length).max() < 0.15
    assert all(a.info["generator"] == "placer" for a in structures)


def test_same_seed_same_structures(trained_run: Path) -> None:
    placer = AutoregressivePlacer.load(trained_run)
    one = placer.sample(6, batch_size=3, max_n_atoms=10, seed=5)
    two = placer.sample(6, batch_size=3, max_n_atoms=10, seed=5)
    assert [a.get_chemical_formula() for a in one] == [
        a.get_chemical_formula() for a in two
    ]
    assert all(
        np.array_equal(a.positions, b.positions) for a, b in zip(one, two, strict=True)
    )


def test_template_atoms_stay_bit_identical_and_fixed(trained_run: Path) -> None:
    placer = AutoregressivePlacer.load(trained_run)
    template = molecule("CH4")
    template.positions += np.pi / 10  # not representable exactly in float32
    out = placer.sample(5, template=template, max_n_atoms=12, seed=1)
    assert out
    for atoms in out:
        assert np.array_equal(atoms.positions[:5], template.positions)
        assert atoms.numbers[:5].tolist() == template.numbers.tolist()
        fixed = [c for c in atoms.constraints if isinstance(c, FixAtoms)]
        assert fixed
        assert fixed[0].index.tolist() == list(range(5))
        assert atoms.info["n_template"] == 5


def test_a_periodic_template_keeps_its_cell(tmp_path: Path) -> None:
    """A placer trained on OH on fixed Cu slabs grows on a slab template."""
    from asegen.train.runner import train_from_config

    structures = []
    rng = np.random.default_rng(0)
    for _ in range(8):
        slab = fcc100("Cu", size=(2, 2, 2), vacuum=4.0)
        slab.set_constraint(FixAtoms(indices=range(len(slab))))
        top = slab.positions[np.argmax(slab.positions[:, 2])]
        oh = Atoms("OH", positions=top + np.array([[0, 0, 1.9], [0, 0, 2.87]]))
        oh.positions += rng.normal(scale=0.03, size=(2, 3))
        structures.append(slab + oh)
    from ase.io import write

    write(tmp_path / "slabs.xyz", structures)
    config = {
        "model": {**TINY, "placement_cutoff": 2.2},
        "train": {"epochs": 3, "batch_size": 16, "seed": 0},
    }
    run = train_from_config(
        "gschnet", config, data=tmp_path / "slabs.xyz", out=tmp_path, progress=False
    )
    placer = AutoregressivePlacer.load(run)
    template = fcc100("Cu", size=(2, 2, 2), vacuum=4.0)
    out = placer.sample(4, template=template, max_n_atoms=11, seed=0)
    for atoms in out:
        assert np.array_equal(atoms.cell.array, template.cell.array)
        assert atoms.pbc.tolist() == template.pbc.tolist()
        assert np.array_equal(atoms.positions[:8], template.positions)
        assert set(atoms.get_chemical_symbols()[8:]) <= {"O", "H"}
    assert placer.model.atom_types == [1, 8]  # template atoms are not placed


def test_conditions_reach_the_model_and_the_info(tmp_path: Path) -> None:
    from ase.io import write

    from asegen.train.runner import train_from_config

    write(tmp_path / "m.xyz", small_molecules(12))
    config = {
        "model": TINY,
        "train": {"epochs": 2, "batch_size": 16, "seed": 0},
        "placer": {"conditions": {"gap": "scalar", "composition": "composition"}},
    }
    run = train_from_config(
        "gschnet", config, data=tmp_path / "m.xyz", out=tmp_path, progress=False
    )
    placer = AutoregressivePlacer.load(run)
    assert set(placer.conditions) == {"gap", "composition"}
    ranges = placer.model.fitted["condition_ranges"]
    assert ranges["gap"] == [3.0, 5.0]  # fitted to the data
    out = placer.sample(
        3, {"gap": 4.0, "composition": "CH4"}, max_n_atoms=8, batch_size=3, seed=0
    )
    for atoms in out:
        assert atoms.info["gap"] == 4.0
        assert atoms.info["composition"] == "CH4"
    with pytest.raises(ConfigError, match="gap"):
        placer.sample(2, {"composition": "CH4"}, seed=0)  # missing
    with pytest.raises(ConfigError, match="homo"):
        placer.sample(2, {"gap": 1.0, "composition": "CH4", "homo": 1.0}, seed=0)
    with pytest.raises(ConfigError, match="composition"):
        placer.sample(2, {"gap": 1.0, "composition": "C-H"}, seed=0)


def test_clear_errors_before_work(trained_run: Path) -> None:
    placer = AutoregressivePlacer.load(trained_run)
    with pytest.raises(ConfigError, match="exceed the template's 5 atoms"):
        placer.sample(2, template=molecule("CH4"), max_n_atoms=5)
    with pytest.raises(ConfigError, match="not trained with the condition"):
        placer.sample(2, {"gap": 3.0})
    with pytest.raises(ConfigError, match="temperature"):
        placer.sample(2, temperature=0.0)


def test_place_command_appends_and_resumes_without_duplicates(
    trained_run: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    args = ["place", str(trained_run), "--batch-size", "3", "--max-n-atoms", "10"]
    whole = tmp_path / "whole.xyz"
    result = runner.invoke(main, [*args, "-n", "9", "-o", str(whole), "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert "attempts" in result.output
    part = tmp_path / "part.xyz"
    first = runner.invoke(main, [*args, "-n", "5", "-o", str(part), "--seed", "4"])
    assert first.exit_code == 0, first.output
    rest = runner.invoke(main, [*args, "-n", "9", "-o", str(part)])  # seed read back
    assert rest.exit_code == 0, rest.output
    from ase.io import read

    a, b = read(whole, ":"), read(part, ":")
    assert len(a) == len(b)
    assert all(np.allclose(x.positions, y.positions) for x, y in zip(a, b, strict=True))
    wrong = runner.invoke(main, [*args, "-n", "9", "-o", str(part), "--seed", "1"])
    assert wrong.exit_code == 2
    assert "seed 4" in wrong.output


def test_train_placer_command(molecules_file: Path, tmp_path: Path) -> None:
    sets = [f"--set=model.{key}={value}" for key, value in TINY.items()]
    result = CliRunner().invoke(
        main,
        ["train", "placer", "--data", str(molecules_file), "--out", str(tmp_path),
         "--epochs", "1", "--draw-random-samples", "4", *sets],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = tmp_path / "version_0"
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "train_type_loss" in header
    assert "val_distance_loss" in header
    assert "draw_random_samples: 4" in (run / "hparams.yaml").read_text()


@pytest.mark.parametrize("suffix", [".db", ".h5"])
def test_place_writes_every_format(
    trained_run: Path, tmp_path: Path, suffix: str
) -> None:
    from asegen.data import read_structures

    out = tmp_path / f"placed{suffix}"
    args = ["place", str(trained_run), "-n", "4", "--max-n-atoms", "10"]
    result = CliRunner().invoke(main, [*args, "-o", str(out), "--seed", "2"])
    assert result.exit_code == 0, result.output
    written = read_structures(out)
    assert len(written) >= 1
    assert written[0].info["generator"] == "placer"
    assert written[0].info["placer_temperature"] == 0.1


def test_training_resumes_to_the_same_weights(
    molecules_file: Path, tmp_path: Path
) -> None:
    """Trajectories are drawn per (seed, epoch, structure): a resumed run
    continues exactly where an unbroken one would be."""
    import torch

    from asegen.models.checkpoint import load_checkpoint
    from asegen.train.runner import train_from_config

    def config(epochs: int) -> dict:
        return {
            "model": TINY,
            "train": {
                "epochs": epochs,
                "batch_size": 16,
                "seed": 3,
                "scheduler": "none",
            },
        }

    whole = train_from_config(
        "gschnet", config(2), data=molecules_file, out=tmp_path / "a", progress=False
    )
    train_from_config(
        "gschnet", config(1), data=molecules_file, out=tmp_path / "b", progress=False
    )
    resumed = train_from_config(
        "gschnet", config(2), data=molecules_file, out=tmp_path / "b", resume=True,
        progress=False,
    )  # fmt: skip
    a, _ = load_checkpoint(whole / "checkpoints" / "last.pt")
    b, _ = load_checkpoint(resumed / "checkpoints" / "last.pt")
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name
