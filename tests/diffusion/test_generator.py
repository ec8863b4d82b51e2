"""DiffusionGenerator: requests, templates, compositions, seeds, resume, the CLI.

Structural checks use untrained tiny models whose process is fitted to a
few structures (no training needed); the conditioning test trains a toy.
"""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111
from ase.constraints import FixAtoms
from ase.io import read, write
from click.testing import CliRunner

import asegen
from asegen.cli import main
from asegen.diffusion import DiffusionConfig, DiffusionTask, Process
from asegen.diffusion.generator import DiffusionGenerator, parse_cell
from asegen.errors import ConfigError
from asegen.models import ScoreModel
from asegen.models.checkpoint import save_checkpoint
from asegen.models.score import ScoreConfig
from asegen.train import TrainConfig, train


def generator(settings, images, **options):
    config = ScoreConfig(
        features=8, layers=1, cutoff=4.0, **DiffusionTask.model_defaults(settings)
    )
    torch.manual_seed(0)
    model = ScoreModel(config, Process.fit(settings, images).hparams())
    return DiffusionGenerator(model, device="cpu", **options)


def alloys(n=6):
    images = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
        atoms.symbols[: k % 3 + 1] = "Au"
        images.append(atoms)
    return images


def slabs(n=3):
    images = []
    for _ in range(n):
        slab = fcc111("Cu", size=(2, 2, 2), vacuum=6.0)
        slab.set_constraint(FixAtoms(indices=range(len(slab))))
        top = slab.positions[:, 2].max()
        slab += Atoms("AuCu", positions=[[0.5, 0.5, top + 2.0], [2.0, 1.5, top + 2.2]])
        slab.info["confinement"] = [top + 1.0, top + 4.0]
        images.append(slab)
    return images


@pytest.fixture(scope="module")
def bulk_generator():
    return generator(DiffusionConfig(), alloys())


def test_formula_is_exact_and_samples_lie_in_their_cells(bulk_generator):
    out = bulk_generator.sample(6, formula="Cu2Au2", steps=8, seed=0, progress=False)
    assert [a.get_chemical_formula() for a in out] == ["Au2Cu2"] * 6
    for atoms in out:
        fractional = np.linalg.solve(atoms.cell.array.T, atoms.positions.T).T
        assert ((fractional > -1e-9) & (fractional < 1 + 1e-9)).all()
        assert atoms.pbc.all()
        assert atoms.info["generator"] == "diffusion"


def test_same_seed_same_samples_and_batches_resume(bulk_generator):
    options = {"formula": "Cu3Au", "steps": 6, "batch_size": 2, "progress": False}
    first = bulk_generator.sample(5, seed=3, **options)
    again = bulk_generator.sample(5, seed=3, **options)
    other = bulk_generator.sample(5, seed=4, **options)
    assert all(
        np.array_equal(a.positions, b.positions)
        for a, b in zip(first, again, strict=True)
    )
    assert not np.allclose(first[0].positions, other[0].positions)
    tail = [
        a
        for batch in bulk_generator.batches(5, start=1, seed=3, **options)
        for a in batch
    ]
    assert all(
        np.array_equal(a.positions, b.positions)
        for a, b in zip(first[2:], tail, strict=True)
    )


def test_a_given_cell_is_kept_exactly(bulk_generator):
    cell = parse_cell([3.9, 4.1, 4.3, 88, 91, 92])
    out = bulk_generator.sample(
        2, n_atoms=4, cell=cell, steps=5, seed=0, progress=False
    )
    for atoms in out:
        assert np.array_equal(atoms.cell.array, cell)
        assert set(atoms.get_chemical_symbols()) <= {"Cu", "Au"}


def test_a_diverged_batch_is_one_line_and_nothing_is_returned(
    bulk_generator, monkeypatch
):
    network = bulk_generator.model
    forward = type(network).forward

    def exploding(self, graph):
        out = forward(self, graph)
        out["positions"] = out["positions"] * float("inf")
        return out

    monkeypatch.setattr(type(network), "forward", exploding)
    diverged = r"sampling diverged at t = .*: \d+ of 2 .* guidance"
    with pytest.raises(ConfigError, match=diverged):
        bulk_generator.sample(2, formula="CuAu", steps=3, seed=0, progress=False)


def test_template_atoms_come_back_bit_identical_and_fixed():
    gen = generator(DiffusionConfig(noiser="surface"), slabs())
    template = fcc111("Cu", size=(2, 2, 2), vacuum=6.0)
    template.rattle(0.01, seed=2)  # positions that no float32 round trip keeps
    top = template.positions[:, 2].max()
    window = (top + 1.0, top + 4.0)
    out = gen.sample(4, template=template, formula="AuCu", confinement=window,
                     steps=10, seed=1, progress=False)  # fmt: skip
    for atoms in out:
        assert np.array_equal(atoms.positions[: len(template)], template.positions)
        assert np.array_equal(atoms.numbers[: len(template)], template.numbers)
        assert np.array_equal(atoms.cell.array, template.cell.array)
        fixed = atoms.constraints[0]
        assert isinstance(fixed, FixAtoms)
        assert sorted(fixed.index) == list(range(len(template)))
        heights = atoms.positions[len(template) :, 2]
        assert ((heights >= window[0] - 1e-5) & (heights <= window[1] + 1e-5)).all()
        assert sorted(atoms.get_chemical_symbols()[len(template) :]) == ["Au", "Cu"]


def test_every_missing_or_impossible_requirement_is_one_line(bulk_generator):
    cases = [
        ({}, "say how many atoms to generate"),
        ({"formula": "Cu2Ag2"}, r"never saw \['Ag'\]; it generates \['Cu', 'Au'\]"),
        ({"formula": "Cu2", "n_atoms": 3}, "n_atoms is 3 but the formula"),
        ({"formula": "Cu2", "property": {"gap": 1.0}}, "not conditioned on"),
        ({"formula": "Xx2"}, "cannot read the formula"),
        ({"formula": "Cu2", "cell": [1, 2]}, "3 lengths, 6 lengths and angles"),
    ]
    for request, message in cases:
        with pytest.raises(ConfigError, match=message):
            bulk_generator.sample(1, steps=1, progress=False, **request)
    no_cell = generator(DiffusionConfig(cell=False), alloys())
    with pytest.raises(
        ConfigError, match="does not generate cells; give one with cell="
    ):
        no_cell.sample(1, formula="Cu2", steps=1, progress=False)
    no_types = generator(DiffusionConfig(types=False), alloys())
    with pytest.raises(ConfigError, match="does not generate atom types"):
        no_types.sample(1, n_atoms=2, steps=1, progress=False)
    surface = generator(DiffusionConfig(noiser="surface"), slabs())
    surface.process.confinement_above = None  # as a model with no fixed atoms
    plain = fcc111("Cu", size=(2, 2, 2), vacuum=6.0)
    with pytest.raises(ConfigError, match="needs the confinement window"):
        surface.sample(1, template=plain, formula="Cu", steps=1, progress=False)


def test_conditioning_moves_the_samples_toward_the_property(tmp_path):
    rng = np.random.default_rng(0)
    images = []
    for k in range(96):  # dimers whose bond length is the property
        bond = 1.0 if k % 2 else 2.2
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        dimer = Atoms("H2", positions=[-0.5 * bond * u, 0.5 * bond * u])
        dimer.info["bond"] = bond
        images.append(dimer)
    settings = DiffusionConfig(
        noiser="gas", types=False, conditioning={"bond": "scalar"}
    )
    config = ScoreConfig(
        features=32, layers=2, cutoff=5.0, **DiffusionTask.model_defaults(settings)
    )
    torch.manual_seed(0)
    run = train(
        ScoreModel(config), images, task=settings, out=tmp_path,
        config=TrainConfig(epochs=60, batch_size=16, learning_rate=3e-3, n_train=88,
                           n_val=8, n_test=0, scheduler="none", seed=0),
    )  # fmt: skip
    gen = asegen.load(run, device="cpu")
    assert isinstance(gen, DiffusionGenerator)
    means = {}
    for target in (1.0, 2.2):
        out = gen.sample(48, atomic_numbers=[1, 1], property={"bond": target},
                         guidance=2.0, steps=40, seed=0, progress=False)  # fmt: skip
        means[target] = np.mean([a.get_distance(0, 1) for a in out])
    assert means[1.0] < 1.3 < 1.9 < means[2.2], means


def test_the_cli_trains_samples_and_resumes(tmp_path):
    data = tmp_path / "alloys.xyz"
    write(data, alloys(8))
    runner = CliRunner()
    result = runner.invoke(main, [
        "train", "diffusion", "--data", str(data), "--out", str(tmp_path / "logs"),
        "--epochs", "1", "--set", "model.features=8", "--set", "model.layers=1",
        "--set", "model.cutoff=4.0", "--set", "train.n_train=6",
        "--set", "train.n_val=2", "--set", "train.n_test=0",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    run = tmp_path / "logs" / "version_0"
    assert (run / "loss_by_time.png").is_file()  # reported on validation (no test)
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "train_cell_loss" in header
    assert "val_types_loss" in header
    common = [
        "sample",
        str(run),
        "--formula",
        "Cu3Au",
        "--steps",
        "4",
        "--batch-size",
        "3",
    ]
    whole = tmp_path / "whole.xyz"
    result = runner.invoke(main, [*common, "-n", "7", "-o", str(whole), "--seed", "5"])
    assert result.exit_code == 0, result.output
    part = tmp_path / "part.xyz"
    runner.invoke(main, [*common, "-n", "4", "-o", str(part), "--seed", "5"])
    result = runner.invoke(
        main, [*common, "-n", "7", "-o", str(part)]
    )  # seed read back
    assert "wrote 3 structures" in result.output
    a, b = read(whole, index=":"), read(part, index=":")
    assert len(a) == len(b) == 7
    assert all(np.allclose(x.positions, y.positions) for x, y in zip(a, b, strict=True))
    result = runner.invoke(main, [*common, "-n", "9", "-o", str(part), "--seed", "6"])
    assert result.exit_code == 2
    assert "holds samples of seed 5" in result.output
    # the steps it was written with continue it, default or not
    steps = tmp_path / "steps.xyz"
    runner.invoke(main, [*common[:4], "-n", "2", "-o", str(steps), "--seed", "5"])
    result = runner.invoke(main, [*common[:4], "-n", "3", "-o", str(steps)])
    assert result.exit_code == 0, result.output
    assert {a.info["steps"] for a in read(steps, index=":")} == {60}  # the model's
    again = [*common[:4], "--batch-size", "3", "-n", "9", "-o", str(part)]
    assert "wrote 2 structures" in runner.invoke(main, again).output
    assert {a.info["steps"] for a in read(part, index=":")} == {4}  # not 60
    result = runner.invoke(
        main, [*common[:4], "-n", "4", "-o", str(steps), "--steps", "4"]
    )
    assert result.exit_code == 2
    assert "was written with --steps 60" in result.output


def test_a_checkpoint_without_a_process_is_refused(tmp_path):
    save_checkpoint(tmp_path / "bare.pt", ScoreModel(ScoreConfig(features=8, layers=1)))
    with pytest.raises(ValueError, match="was not trained by the diffusion task"):
        DiffusionGenerator.load(tmp_path / "bare.pt")


def test_function_style_api_trains_loads_and_samples(tmp_path):
    from asegen.diffusion import load_diffusion, sample, train_diffusion

    data = tmp_path / "alloys.xyz"
    write(data, alloys(8))
    config = {
        "model": {"features": 8, "layers": 1, "cutoff": 4.0},
        "train": {"epochs": 1, "n_train": 6, "n_val": 2, "n_test": 0},
    }
    run = train_diffusion(data, config, out=tmp_path, cell=False, types_kind="uniform")
    gen = load_diffusion(run, device="cpu")
    assert "cell" not in gen.process.noisers
    assert gen.process.noisers["types"].kind == "uniform"
    out = sample(gen, 2, formula="Cu3Au", cell=[3.7, 3.7, 3.7], steps=3, progress=False)
    assert [a.get_chemical_formula() for a in out] == ["AuCu3", "AuCu3"]
    # the mean aggregation is scaled to the training structures' neighbours:
    # every atom of a 3.7 Å fcc cell has 12 + 6 within the 4.0 Å cutoff
    assert float(gen.model.reference_neighbors) == pytest.approx(18.0)


def test_batches_are_noised_alike_in_worker_processes(tmp_path):
    from asegen.diffusion import train_diffusion

    data = tmp_path / "alloys.xyz"
    write(data, alloys(8))
    losses = []
    for workers in (0, 1):
        config = {
            "model": {"features": 8, "layers": 1, "cutoff": 4.0},
            "train": {"epochs": 2, "batch_size": 3, "n_train": 6, "n_val": 2,
                      "n_test": 0, "num_workers": workers},
        }  # fmt: skip
        run = train_diffusion(data, config, out=tmp_path / str(workers))
        rows = (run / "metrics.csv").read_text().splitlines()
        header = rows[0].split(",")
        keep = [k for k, name in enumerate(header) if name.endswith("loss")]
        losses.append([[row.split(",")[k] for k in keep] for row in rows[1:]])
    assert len(losses[0]) == 2
    assert losses[0] == losses[1]


@pytest.mark.parametrize(("focus", "steps"), [(0.25, 60), (0.0, 100)])
def test_default_steps_follow_the_training_times(focus, steps):
    # focused training times sample as well in 60 steps as in 100
    # (docs/benchmarks.md); uniform-time and earlier models keep 100
    gen = generator(DiffusionConfig(time_focus=focus), alloys())
    calls = []
    gen.model.register_forward_hook(lambda *_: calls.append(1))
    out = gen.sample(1, formula="Cu2Au2", seed=0, progress=False)
    assert out[0].info["steps"] == steps
    assert len(calls) == 2 * steps - 1  # predictor and corrector, none at the end
    assert (
        gen.sample(1, formula="Cu2Au2", seed=0, steps=7, progress=False)[0].info[
            "steps"
        ]
        == 7
    )
