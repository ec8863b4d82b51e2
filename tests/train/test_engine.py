"""The training engine: run layout, resume, early stopping, reference energies."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read
from calculator_factories import TINY

from asegen.calculators import ALIGNNCalculator
from asegen.errors import ConfigError
from asegen.models.alignn import ALIGNN, ALIGNNConfig
from asegen.models.checkpoint import load_checkpoint
from asegen.train import PotentialConfig, TrainConfig, fit_reference_energies, train
from asegen.train import engine as engine_module

DATA = "examples/data/cu_au_emt.xyz"


@pytest.fixture(scope="module")
def structures():
    return read(DATA, index=":40")


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return ALIGNN(ALIGNNConfig(**TINY))


def config(**changes):
    base = {"epochs": 3, "batch_size": 8, "learning_rate": 3e-3, "seed": 1}
    return TrainConfig(**{**base, **changes})


def rows(run):
    with (run / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_run_directory_layout_and_learning(structures, tmp_path):
    run = train(tiny_model(), structures, config=config(epochs=4), out=tmp_path)
    assert run == tmp_path / "version_0"
    for name in ("hparams.yaml", "metrics.csv", "test_predictions.csv",
                 "loss_curves.png", "parity_energy.png", "parity_forces.png",
                 "checkpoints/best.pt", "checkpoints/last.pt"):  # fmt: skip
        assert (run / name).is_file(), name
    metrics = rows(run)
    assert [int(r["epoch"]) for r in metrics] == [0, 1, 2, 3]
    assert float(metrics[-1]["val_loss"]) < float(metrics[0]["val_loss"])
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["model_class"] == "alignn"
    assert hparams["graph"]["cutoff"] == TINY["cutoff"]
    assert set(hparams["normalisation"]["reference_energies"]) == {"Cu", "Au"}
    assert hparams["data"]["n_train"] == 32
    # a second run goes next to the first
    assert (
        train(tiny_model(), structures, config=config(epochs=1), out=tmp_path).name
        == "version_1"
    )


def test_calculator_loads_the_run(structures, tmp_path):
    run = train(tiny_model(), structures, config=config(epochs=1), out=tmp_path)
    model, payload = load_checkpoint(run)
    calc = ALIGNNCalculator.load(run, device="cpu")
    atoms = structures[0].copy()
    atoms.calc = calc
    graph_energy = atoms.get_potential_energy()
    assert np.isfinite(graph_energy)
    assert payload["format_version"] == 1
    assert torch.equal(model.reference_energies, calc.model.reference_energies.cpu())


def test_resume_after_interruption_matches_uninterrupted_run(
    structures, tmp_path, monkeypatch
):
    reference = train(
        tiny_model(), structures, config=config(epochs=4), out=tmp_path / "a"
    )

    calls = {"n": 0}
    original = engine_module.MetricsLog.append

    def interrupt_at_third_epoch(self, row):
        original(self, row)
        calls["n"] += 1
        if calls["n"] == 3:  # row of epoch 2 written, its checkpoint not yet
            raise KeyboardInterrupt

    monkeypatch.setattr(engine_module.MetricsLog, "append", interrupt_at_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_model(), structures, config=config(epochs=4), out=tmp_path / "b")
    monkeypatch.setattr(engine_module.MetricsLog, "append", original)
    run = train(tiny_model(seed=99), structures, config=config(epochs=4),
                out=tmp_path / "b", resume=True)  # fmt: skip

    resumed, expected = rows(run), rows(reference)
    assert [r["epoch"] for r in resumed] == ["0", "1", "2", "3"]  # no duplicate
    for got, want in zip(resumed, expected, strict=True):
        assert float(got["val_loss"]) == pytest.approx(
            float(want["val_loss"]), rel=1e-5
        )
    a, _ = load_checkpoint(reference / "checkpoints" / "last.pt")
    b, _ = load_checkpoint(run / "checkpoints" / "last.pt")
    for (name, x), y in zip(
        a.state_dict().items(), b.state_dict().values(), strict=True
    ):
        assert torch.allclose(x, y, atol=1e-6), name


def test_resume_without_a_run_is_a_clear_error(structures, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(tiny_model(), structures, config=config(), out=tmp_path, resume=True)


def test_early_stopping_stops_when_validation_stalls(structures, tmp_path):
    # a learning rate far below float32 resolution leaves the weights unchanged
    stalled = config(epochs=10, early_stopping=2, learning_rate=1e-20, scheduler="none")
    run = train(tiny_model(), structures, config=stalled, out=tmp_path)
    assert len(rows(run)) == 3


def test_a_time_budget_stops_training_and_carries_over_a_resume(structures, tmp_path):
    budget = config(epochs=10, max_minutes=1e-6)  # spent by the first epoch
    run = train(tiny_model(), structures, config=budget, out=tmp_path)
    assert len(rows(run)) == 1
    _, payload = load_checkpoint(run / "checkpoints" / "last.pt")
    assert payload["spent"] > 0
    more = config(epochs=10, max_minutes=1e-6)  # the budget is already spent
    train(tiny_model(), structures, config=more, out=tmp_path, resume=True)
    assert len(rows(run)) == 2  # one more epoch, then the budget stops it again
    with pytest.raises(ConfigError, match="max_minutes"):
        config(max_minutes=0)


def test_reference_energies_recover_exact_per_element_energies():
    images = []
    for k, symbols in enumerate(["Cu4", "Au4", "Cu2Au2", "CuAu3"]):
        atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
        atoms.symbols = symbols
        energy = -3.5 * atoms.symbols.count("Cu") - 4.25 * atoms.symbols.count("Au")
        atoms.calc = SinglePointCalculator(
            atoms, energy=energy, forces=np.full((4, 3), 0.5 * (k + 1))
        )
        images.append(atoms)
    model = tiny_model()
    fit_reference_energies(model, images)
    assert model.reference_energies[29].item() == pytest.approx(-3.5)
    assert model.reference_energies[79].item() == pytest.approx(-4.25)
    assert model.reference_energies[1].item() == 0.0
    expected_rms = np.sqrt(np.mean([(0.5 * (k + 1)) ** 2 for k in range(4)]))
    assert model.energy_scale.item() == pytest.approx(expected_rms)


def test_bad_split_is_a_config_error(structures, tmp_path):
    with pytest.raises(ConfigError, match="cannot split"):
        train(tiny_model(), structures[:3], config=config(n_test=3), out=tmp_path)


def test_train_config_validation():
    with pytest.raises(ConfigError, match=r"train\.optimizer"):
        TrainConfig(optimizer="adam")
    with pytest.raises(ConfigError, match="sum to at most 1"):
        TrainConfig(train_ratio=0.9, val_ratio=0.2)
    assert PotentialConfig(weights={"forces": 0.1}).weights.forces == 0.1
    with pytest.raises(ConfigError, match=r"weights\.atomwise must not be negative"):
        PotentialConfig(weights={"atomwise": -1.0})
    json.dumps(TrainConfig().__dict__, default=str)  # plain data
