"""Property models (calculate_gradient: false): regression and classification."""

import csv

import numpy as np
import torch
from ase.io import read, write
from calculator_factories import TINY

from asegen.models import ALIGNN, ALIGNNConfig
from asegen.train import PotentialConfig, TrainConfig, train
from asegen.train.runner import train_from_config

DATA = "examples/data/cu_au_emt.xyz"


def labelled(n=40):
    images = read(DATA, index=f":{n}")
    for atoms in images:
        atoms.info["volume_per_atom"] = atoms.get_volume() / len(atoms)
        atoms.info["gold_fraction"] = float(np.mean(atoms.numbers == 79))
    return images


def rows(run):
    with (run / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def property_model(**options):
    torch.manual_seed(0)
    return ALIGNN(ALIGNNConfig(**{**TINY, "calculate_gradient": False, **options}))


def test_regression_on_an_info_key_learns(tmp_path):
    config = TrainConfig(epochs=6, batch_size=8, learning_rate=5e-3)
    task = PotentialConfig(target="volume_per_atom")
    run = train(property_model(), labelled(), config=config, task=task, out=tmp_path)
    metrics = rows(run)
    assert float(metrics[-1]["val_target_mae"]) < float(metrics[0]["val_target_mae"])
    header = (run / "test_predictions.csv").read_text().splitlines()[0]
    assert header == "index,n_atoms,target_true,target_pred"
    assert (run / "parity_target.png").is_file()


def test_classification_reports_an_error_rate(tmp_path):
    config = TrainConfig(epochs=3, batch_size=8)
    task = PotentialConfig(target="gold_fraction", classification_threshold=0.5)
    model = property_model(classification=True, output_features=1)
    run = train(model, labelled(), config=config, task=task, out=tmp_path)
    rate = float(rows(run)[-1]["val_target_error_rate"])
    assert 0.0 <= rate <= 1.0
    with (run / "test_predictions.csv").open() as handle:
        probabilities = [
            float(r["class1_probability_pred"]) for r in csv.DictReader(handle)
        ]
    assert all(0.0 <= p <= 1.0 for p in probabilities)


def test_alignn_property_config_trains_on_id_prop_csv(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    lines = []
    for k, atoms in enumerate(labelled(24)):
        write(folder / f"{k}.vasp", atoms, format="vasp")
        lines.append(f"{k}.vasp,{atoms.info['volume_per_atom']}")
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")
    config = {
        "neighbor_strategy": "pure_torch",
        "epochs": 1,
        "batch_size": 8,
        "n_train": 16,
        "n_val": 4,
        "n_test": 4,
        "num_workers": 0,
        "model": {
            "name": "alignn_atomwise_pure",
            "atom_input_features": 92,
            "calculate_gradient": False,
            "hidden_features": 8,
            "embedding_features": 8,
            "alignn_layers": 1,
            "gcn_layers": 1,
        },
    }
    run = train_from_config("alignn", config, data=folder, out=tmp_path / "logs")
    assert rows(run)[0]["train_target_mae"]
