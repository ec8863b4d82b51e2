"""Checks before and during training: data, labels, device, resume, NaN loss."""

import re

import numpy as np
import pytest
import torch
import yaml
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from calculator_factories import TINY
from click.testing import CliRunner

from asegen.cli import main
from asegen.errors import ConfigError, DataFormatError, StructureError
from asegen.models.alignn import ALIGNN, ALIGNNConfig
from asegen.models.checkpoint import load_checkpoint
from asegen.models.score import ScoreConfig, ScoreModel
from asegen.train import TrainConfig, train
from asegen.train.potential import PotentialTask
from asegen.train.runner import train_from_config

DATA = "examples/data/cu_au_emt.xyz"
SPLIT = {"n_train": 8, "n_val": 2, "n_test": 2, "keep_data_order": True}
CONFIG = {"model": TINY, "train": {"epochs": 1, "batch_size": 4, "seed": 1, **SPLIT}}


def images(n=12):
    return read(DATA, index=f":{n}")


def run_config(**train_changes):
    return {**CONFIG, "train": {**CONFIG["train"], **train_changes}}


def written(tmp_path, structures, name="data.xyz"):
    path = tmp_path / name
    write(path, structures)
    return path


def no_run_made(tmp_path):
    return not list(tmp_path.glob("logs/version_*"))


def relabel(atoms, **results):
    atoms.calc = SinglePointCalculator(atoms, **results)


@pytest.mark.parametrize(
    ("spoil", "error", "message"),
    [
        (lambda a: a.positions.__setitem__((1, 0), np.nan), StructureError,
         "structure 11 of the test data (data.xyz) has a non-finite position"),
        (lambda a: a.set_cell(np.zeros((3, 3))), StructureError,
         "structure 11 of the test data (data.xyz) is periodic along xyz but"),
        (lambda a: relabel(a, energy=np.nan, forces=a.calc.results["forces"]),
         DataFormatError, "structure 11 of the test data (data.xyz) has a non-finite "
         "energy label"),
        (lambda a: relabel(a, energy=-1.0, forces=np.full((len(a), 3), np.inf)),
         DataFormatError, "has a non-finite forces label"),
    ],
)  # fmt: skip
def test_a_bad_structure_of_the_test_split_stops_before_training(
    tmp_path, spoil, error, message
):
    structures = images()
    spoil(structures[11])  # the last: the test split in file order
    data = written(tmp_path, structures)
    with pytest.raises(error) as raised:
        train_from_config("alignn", CONFIG, data=data, out=tmp_path / "logs")
    assert message in str(raised.value).replace(f"{tmp_path}/", "")
    assert no_run_made(tmp_path)


def test_data_without_labels_or_a_val_set_without_labels_is_refused(tmp_path):
    unlabelled = images()
    for atoms in unlabelled:
        atoms.calc = None
    data = written(tmp_path, unlabelled)
    label = r"the training data \(.*\) has no finite energy or forces label on any"
    with pytest.raises(DataFormatError, match=label + " of its 8 structures"):
        train_from_config("alignn", CONFIG, data=data, out=tmp_path / "logs")
    val = written(tmp_path, unlabelled[:3], "val.xyz")
    data = written(tmp_path, images(), "train.xyz")
    with pytest.raises(DataFormatError, match=r"the validation data \(.*val.xyz\) "
                       "has no finite"):  # fmt: skip
        train_from_config("alignn", run_config(n_val=None), data=data, val=val,
                          out=tmp_path / "logs")  # fmt: skip
    assert no_run_made(tmp_path)


def test_a_nan_loss_stops_with_epoch_and_batch_and_keeps_the_last_good_epoch(
    tmp_path, monkeypatch
):
    original, calls = PotentialTask.loss, {"n": 0}

    def poisoned(self, model, batch, *, training):
        loss, metrics = original(self, model, batch, training=training)
        calls["n"] += training
        if training and calls["n"] == 4:  # epoch 2, batch 2 (2 batches per epoch)
            return loss * np.nan, {**metrics, "loss": float("nan")}
        return loss, metrics

    monkeypatch.setattr(PotentialTask, "loss", poisoned)
    data = written(tmp_path, images())
    with pytest.raises(ConfigError) as raised:
        train_from_config("alignn", run_config(epochs=3), data=data,
                          out=tmp_path / "logs")  # fmt: skip
    assert "the training loss became nan in epoch 2 (metrics.csv epoch 1), " \
           "batch 2 of 2" in str(raised.value)  # fmt: skip
    model, state = load_checkpoint(tmp_path / "logs/version_0/checkpoints/last.pt")
    assert state["epoch"] == 0
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_cli_mistakes_are_one_line_and_leave_no_run(tmp_path):
    data = written(tmp_path, images())
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    base = ["train", "alignn", str(config), "--data", str(data),
            "--out", str(tmp_path / "logs")]  # fmt: skip
    cases = [
        (["--workers", "-1"], "train.num_workers must be 0 or more, got -1"),
        (["--seed", "-1"], "train.seed must be 0 or more, got -1"),
        (["--set", "model.hidden_features=0"], "hidden_features must be at least 1"),
        (["--set", "model.hidden_features=big"], "model.hidden_features must be an "
         "integer, got 'big'"),
        (["--set", "train.learning_rate=.nan"], "train.learning_rate must be finite"),
    ]  # fmt: skip
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda:0"], "train.device 'cuda:0' is not available"))
    for extra, message in cases:
        result = CliRunner().invoke(main, [*base, *extra])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("Error:")
        assert message in lines[0]
    assert no_run_made(tmp_path)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = written(root, images())
    run = train_from_config("alignn", run_config(epochs=1, scheduler="none"),
                            data=data, out=root / "logs")  # fmt: skip
    return root, data, run


def snapshot(run):
    return {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**CONFIG, "model": {**TINY, "hidden_features": 8}},
         "has model.hidden_features = 16, the config gives 8"),
        (run_config(scheduler="none", batch_size=2),
         "was trained with train.batch_size = 4, the config gives 2"),
        (run_config(scheduler="none", weights={"stress": 1.0}),
         "was trained with train.weights.stress = 0.0, the config gives 1.0"),
        (run_config(scheduler="none", n_train=7),
         "was trained with train.n_train = 8, the config gives 7"),
    ],
)  # fmt: skip
def test_resume_refuses_another_model_or_settings_and_changes_nothing(
    finished_run, config, message
):
    root, data, run = finished_run
    before = snapshot(run)
    with pytest.raises(ConfigError, match=re.escape(message)):
        train_from_config("alignn", config, data=data, out=root / "logs", resume=True)
    assert snapshot(run) == before


def test_resume_refuses_a_model_of_another_class(finished_run):
    root, _, run = finished_run
    before = snapshot(run)
    with pytest.raises(ConfigError, match="holds a 'alignn' model, not 'score'"):
        train(ScoreModel(ScoreConfig(features=8, layers=1)), images(),
              out=root / "logs", resume=True)  # fmt: skip
    assert snapshot(run) == before


def test_resume_may_add_epochs_and_change_workers(finished_run):
    root, data, run = finished_run
    longer = run_config(epochs=2, scheduler="none", early_stopping=5)
    resumed = train_from_config("alignn", longer, data=data, out=root / "logs",
                                resume=True)  # fmt: skip
    assert resumed == run
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["train"]["epochs"] == 2
    assert hparams["trained_elements"] == ["Cu", "Au"]


def test_a_python_caller_may_resume_with_any_model_of_the_class(tmp_path):
    torch.manual_seed(0)
    config = TrainConfig(epochs=1, batch_size=4, scheduler="none", **SPLIT)
    train(ALIGNN(ALIGNNConfig(**TINY)), images(), config=config, out=tmp_path)
    again = TrainConfig(epochs=2, batch_size=4, scheduler="none", **SPLIT)
    run = train(ALIGNN(ALIGNNConfig()), images(), config=again, out=tmp_path,
                resume=True)  # fmt: skip
    model, state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["epoch"] == 1
    assert model.config.hidden_features == TINY["hidden_features"]


def test_resume_refuses_data_that_splits_otherwise(tmp_path):
    ratios = {"model": TINY, "train": {"epochs": 1, "batch_size": 4, "seed": 1,
                                       "scheduler": "none"}}  # fmt: skip
    train_from_config("alignn", ratios, data=written(tmp_path, images(20)),
                      out=tmp_path / "logs")  # fmt: skip
    more = written(tmp_path, images(30), "more.xyz")
    with pytest.raises(ConfigError, match="trained on a split of 16 structures where "
                       r"this data gives 24 \(n_train\)"):  # fmt: skip
        train_from_config("alignn", ratios, data=more, out=tmp_path / "logs",
                          resume=True)  # fmt: skip
