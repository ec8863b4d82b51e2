"""Runs load by kind: asegen.load, asegen info RUN, and runs of release 0.1.0.

``fixtures/run_0.1.0`` was written by asegen 0.1.0 (commit d37fd44, before
the task seam): a tiny ALIGNN force field trained for two epochs, with the
energy, forces and stress it gave for one structure (float64) in
``expected_predictions.json``.
"""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from ase.io import read, write
from calculator_factories import TINY
from click.testing import CliRunner

import asegen
from asegen.calculators import ALIGNNCalculator
from asegen.cli import main
from asegen.errors import DataFormatError
from asegen.models import ALIGNN, ALIGNNConfig
from asegen.models.checkpoint import save_checkpoint
from asegen.train.runner import train_from_config

OLD_RUN = Path(__file__).parent / "fixtures" / "run_0.1.0"
DATA = "examples/data/cu_au_emt.xyz"


def test_a_run_of_release_0_1_0_gives_the_same_numbers():
    expected = json.loads((OLD_RUN / "expected_predictions.json").read_text())
    calc = asegen.load(OLD_RUN, device="cpu", dtype=torch.float64)
    assert isinstance(calc, ALIGNNCalculator)
    atoms = read(DATA, index="20")
    atoms.calc = calc
    assert atoms.get_potential_energy() == pytest.approx(expected["energy"], rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), expected["forces"], atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(), expected["stress"], atol=1e-12)


def test_a_run_of_release_0_1_0_resumes_with_its_columns(tmp_path, capsys):
    run = tmp_path / "logs" / "version_0"
    shutil.copytree(OLD_RUN, run)
    old_header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    data = tmp_path / "data.xyz"
    write(data, read(DATA, index=":16"))
    split = {"n_train": 8, "n_val": 4, "n_test": 4}
    model = yaml.safe_load((run / "hparams.yaml").read_text())["model"]["config"]
    config = {"model": model,  # a resume gives the run's model and settings
              "train": {"epochs": 2, "batch_size": 4, "seed": 3, **split,
                        "weights": {"stress": 0.1}}}  # fmt: skip
    resumed = train_from_config(
        "alignn", config, data=data, out=tmp_path / "logs", resume=True
    )
    assert resumed == run
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(rows[0]) == sorted(old_header)  # the same columns
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert (run / "test_predictions.csv").is_file()
    assert (run / "parity_forces.png").is_file()
    err = capsys.readouterr().err  # the report names the split it evaluated
    assert "\ntest energy per atom MAE " in err
    assert "eV/atom over 4 values\n" in err


def test_load_returns_what_fits_the_stored_model(tmp_path):
    torch.manual_seed(0)
    potential = ALIGNN(ALIGNNConfig(**TINY))
    save_checkpoint(tmp_path / "ff.pt", potential)
    assert isinstance(asegen.load(tmp_path / "ff.pt", device="cpu"), ALIGNNCalculator)
    prop = ALIGNN(ALIGNNConfig(**TINY, calculate_gradient=False))
    save_checkpoint(tmp_path / "property.pt", prop)
    with pytest.raises(DataFormatError, match=r"holds a property model \(alignn\)"):
        asegen.load(tmp_path / "property.pt")


def test_info_describes_a_run(tmp_path):
    result = CliRunner().invoke(main, ["info", str(OLD_RUN)])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    assert lines["model"].strip() == "alignn, 3,022 parameters (float32)"
    assert "potential; loads as an ASE calculator" in lines["task"]
    assert lines["epochs"].strip() == "2 in metrics.csv"
    assert lines["best"].strip() == (
        "validation loss 1.16531 at epoch 2 (metrics.csv epoch 1)"
    )
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(main, ["info", str(broken)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "is not a readable asegen checkpoint" in result.output


def test_info_counts_the_kept_epoch_as_training_does(tmp_path):
    write(tmp_path / "data.xyz", read(DATA, index=":12"))
    args = ["train", "alignn", "--data", str(tmp_path / "data.xyz"), "--epochs", "3",
            "--batch-size", "4", "--out", str(tmp_path / "logs"),
            *(f"--set=model.{key}={value}" for key, value in TINY.items()),
            "--set=train.n_val=4", "--set=train.n_test=0"]  # fmt: skip
    trained = CliRunner().invoke(main, args)
    assert trained.exit_code == 0, trained.output
    kept = [line for line in trained.stderr.splitlines() if "kept epoch" in line]
    assert len(kept) == 1, trained.stderr
    # without a test split the report is on the validation split and says so
    report = trained.stderr.splitlines()[-3:]
    assert report[0].startswith("validation energy per atom MAE "), report
    assert report[0].endswith(" eV/atom over 4 values"), report
    assert report[1].startswith("validation forces MAE "), report
    assert report[2].startswith("validation predictions and parity plots are in ")
    number = int(kept[0].split("kept epoch ")[1].split()[0])
    run = tmp_path / "logs" / "version_0"
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    best = min(rows, key=lambda row: float(row["val_loss"]))
    assert number == int(best["epoch"]) + 1  # training counts from 1, the csv from 0
    shown = CliRunner().invoke(main, ["info", str(run)])
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if line.startswith("best:")]
    assert lines == [
        f"best:        validation loss {float(best['val_loss']):.6g} at epoch "
        f"{number} (metrics.csv epoch {number - 1})"
    ]
    single = CliRunner().invoke(main, ["info", str(run / "checkpoints" / "best.pt")])
    assert f"epoch:       {number} (metrics.csv epoch {number - 1})" in single.output
