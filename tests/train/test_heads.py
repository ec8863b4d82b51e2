"""Training ALIGNN's atomwise and additional heads (per-atom and graph targets)."""

import copy
import csv
import json

import numpy as np
import pytest
import torch
import yaml
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from calculator_factories import TINY
from click.testing import CliRunner

from asegen import data
from asegen.cli import main
from asegen.data._alignn import read_alignn_folder
from asegen.errors import ConfigError, DataFormatError
from asegen.graph import atoms_to_graph
from asegen.models import ALIGNN, ALIGNNConfig
from asegen.models.alignn import config_from_alignn, train_config_from_alignn
from asegen.train import LossWeights, PotentialConfig, TrainConfig, train
from asegen.train.potential import head_target, loss_terms
from asegen.train.runner import train_from_config

DATA = "examples/data/cu_au_emt.xyz"
SPLIT = {"n_train": 24, "n_val": 4, "n_test": 4, "keep_data_order": True}


def labelled(n=32):
    """Cu-Au cells with per-atom EMT energies and their composition [x_Cu, x_Au]."""
    images = read(DATA, index=f":{n}")
    for atoms in images:
        labels = atoms.calc
        atoms.calc = EMT()
        atoms.set_array("emt_energy", atoms.get_potential_energies())
        atoms.calc = labels
        gold = float(np.mean(atoms.numbers == 79))
        atoms.info["composition"] = [1.0 - gold, gold]
    return images


def model_with_heads(atomwise=0, additional=0, **options):
    torch.manual_seed(0)
    config = ALIGNNConfig(
        **TINY,
        atomwise_output_features=atomwise,
        additional_output_features=additional,
        **options,
    )
    return ALIGNN(config)


def config(**changes):
    """Engine and task settings, as train()'s config= and task= arguments."""
    base = {"epochs": 4, "batch_size": 4, "learning_rate": 1e-2, "seed": 1, **SPLIT}
    merged = {**base, **changes}
    task = {
        k: merged.pop(k) for k in list(merged) if k in PotentialConfig.__match_args__
    }
    return {"config": TrainConfig(**merged), "task": PotentialConfig(**task)}


def rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


def columns(table, suffix):
    return np.array(
        [[float(v) for k, v in row.items() if k.endswith(suffix)] for row in table]
    )


def untrained_error(model, images, head, key):
    """MAE of ``model``'s head on ``images`` before any training."""
    graph = atoms_to_graph(images, **model.graph_options(), dtype=torch.float64)
    with torch.no_grad():
        pred = model.double()(graph)[head].numpy()
    where = "test structure"
    true = np.concatenate([head_target(a, head, key, where) for a in images])
    return np.abs(pred - true).mean()


def run_cli(*args):
    return CliRunner().invoke(main, list(args))


def test_atomwise_head_learns_per_atom_emt_energies(tmp_path):
    images = labelled()
    model = model_with_heads(atomwise=1)
    before = untrained_error(
        copy.deepcopy(model), images[-4:], "atomwise", "emt_energy"
    )
    weights = {"energy": 1.0, "forces": 0.0, "atomwise": 1.0}
    cfg = config(weights=weights, atomwise_key="emt_energy")
    run = train(model, images, **cfg, out=tmp_path)

    metrics = rows(run / "metrics.csv")
    assert float(metrics[-1]["train_atomwise_mae"]) < float(
        metrics[0]["train_atomwise_mae"]
    )
    assert metrics[-1]["val_atomwise_mae"]
    assert metrics[-1]["val_energy_mae"]
    assert not metrics[-1]["val_additional_mae"]  # weight 0: not computed
    table = rows(run / "test_atomwise.csv")
    assert list(table[0]) == ["index", "atom", "atomwise_true", "atomwise_pred"]
    assert len(table) == sum(len(a) for a in images[-4:])  # one row per atom
    true, pred = columns(table, "_true"), columns(table, "_pred")
    expected = np.concatenate([a.arrays["emt_energy"] for a in images[-4:]])
    np.testing.assert_allclose(true[:, 0], expected, rtol=1e-6)  # float32 run
    after = np.abs(true - pred).mean()
    assert after < 0.5 * before, (before, after)
    assert (run / "parity_atomwise.png").is_file()


def test_additional_head_learns_a_graph_vector_from_info(tmp_path):
    images = labelled()
    model = model_with_heads(additional=2)
    before = untrained_error(
        copy.deepcopy(model), images[-4:], "additional", "composition"
    )
    weights = {"energy": 1.0, "forces": 0.0, "additional": 1.0}
    cfg = config(weights=weights, additional_key="composition")
    run = train(model, images, **cfg, out=tmp_path)

    metrics = rows(run / "metrics.csv")
    assert float(metrics[-1]["train_additional_mae"]) < float(
        metrics[0]["train_additional_mae"]
    )
    table = rows(run / "test_additional.csv")
    assert list(table[0]) == [
        "index", "additional_0_true", "additional_1_true",
        "additional_0_pred", "additional_1_pred",
    ]  # fmt: skip
    true, pred = columns(table, "_true"), columns(table, "_pred")
    np.testing.assert_allclose(true, [a.info["composition"] for a in images[-4:]])
    after = np.abs(true - pred).mean()
    assert after < 0.5 * before, (before, after)
    assert (run / "parity_additional.png").is_file()


def test_property_model_trains_its_heads_too(tmp_path):
    images = labelled(16)
    for atoms in images:
        atoms.info["volume_per_atom"] = atoms.get_volume() / len(atoms)
    model = model_with_heads(atomwise=1, calculate_gradient=False)
    cfg = config(
        epochs=1,
        n_train=8,
        target="volume_per_atom",
        weights={"energy": 1.0, "atomwise": 1.0},
        atomwise_key="emt_energy",
    )
    run = train(model, images, **cfg, out=tmp_path)
    last = rows(run / "metrics.csv")[-1]
    assert last["val_target_mae"]
    assert last["val_atomwise_mae"]
    # the reported loss is the weighted sum of both terms (L1, weights 1)
    assert float(last["val_loss"]) == pytest.approx(
        float(last["val_target_mae"]) + float(last["val_atomwise_mae"]), rel=1e-5
    )


def test_heads_with_zero_weight_are_not_trained_or_read(tmp_path):
    images = read(DATA, index=":16")
    model = model_with_heads(atomwise=1, additional=1)
    cfg = config(epochs=1, n_train=8, atomwise_key="absent", additional_key="absent")
    run = train(model, images, **cfg, out=tmp_path)
    last = rows(run / "metrics.csv")[-1]
    assert not last["train_atomwise_mae"]
    assert not last["train_additional_mae"]
    assert not (run / "test_atomwise.csv").exists()
    assert not (run / "test_additional.csv").exists()


def test_loss_adds_weighted_head_errors():
    images = labelled(2)
    model = model_with_heads(atomwise=1, additional=2).double()
    graph = atoms_to_graph(images, **model.graph_options(), dtype=torch.float64)
    atomwise = torch.from_numpy(
        np.concatenate([a.arrays["emt_energy"] for a in images])
    )
    additional = torch.tensor([a.info["composition"] for a in images])
    graph = graph.with_labels(
        atom={"atomwise": atomwise[:, None]}, structure={"additional": additional}
    )
    with torch.no_grad():
        pred = model(graph)
    n = graph.n_atoms.double()
    l1 = {
        "energy": (pred["energy"] / n - graph.energy / n).abs().mean(),
        "atomwise": (pred["atomwise"] - atomwise[:, None]).abs().mean(),
        "additional": (pred["additional"] - additional).abs().mean(),
    }
    weights = LossWeights(energy=0.5, forces=0.0, atomwise=2.0, additional=3.0)
    total, metrics = loss_terms(pred, graph, weights, "l1")
    expected = 0.5 * l1["energy"] + 2.0 * l1["atomwise"] + 3.0 * l1["additional"]
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    assert metrics["atomwise_mae"] == pytest.approx(float(l1["atomwise"]))
    assert metrics["additional_mae"] == pytest.approx(float(l1["additional"]))
    mse, _ = loss_terms(pred, graph, LossWeights(energy=0, atomwise=1), "mse")
    squared = (pred["atomwise"] - atomwise[:, None]).pow(2).mean()
    assert float(mse) == pytest.approx(float(squared), rel=1e-12)


def test_head_targets_come_from_arrays_info_or_calculator_results():
    atoms = read(DATA, index="0")
    n = len(atoms)
    charges = np.linspace(-1, 1, n)
    atoms.calc = SinglePointCalculator(atoms, energy=1.0, charges=charges)
    atoms.set_array("spins", np.ones((n, 2)))
    atoms.info["gap"] = 1.5
    assert head_target(atoms, "atomwise", "charges", "s").shape == (n, 1)
    assert head_target(atoms, "atomwise", "spins", "s").shape == (n, 2)
    assert head_target(atoms, "additional", "gap", "s").tolist() == [[1.5]]
    assert head_target(atoms, "additional", "energy", "s").tolist() == [[1.0]]
    with pytest.raises(
        DataFormatError, match=r"structure 3 has no 'q' in atoms\.arrays"
    ):
        head_target(atoms, "atomwise", "q", "structure 3")
    with pytest.raises(DataFormatError, match="not one row per atom"):
        head_target(atoms, "atomwise", "energy", "s")
    atoms.info["name"] = "cell"
    with pytest.raises(DataFormatError, match="not a number"):
        head_target(atoms, "additional", "name", "s")


def test_hdf5_file_carries_head_targets_into_training(tmp_path):
    images = labelled(16)
    path = tmp_path / "train.h5"
    data.write(path, images)
    heads = {"atomwise_output_features": 1, "additional_output_features": 2}
    run_config = {
        "model": {**TINY, **heads},
        "train": {
            "epochs": 1, "batch_size": 4, "n_train": 8, "n_val": 4, "n_test": 4,
            "keep_data_order": True, "atomwise_key": "emt_energy",
            "additional_key": "composition",
            "weights": {"forces": 0.0, "atomwise": 1.0, "additional": 1.0},
        },
    }  # fmt: skip
    run = train_from_config("alignn", run_config, data=path, out=tmp_path / "logs")
    atomwise = columns(rows(run / "test_atomwise.csv"), "_true")[:, 0]
    expected = np.concatenate([a.arrays["emt_energy"] for a in images[-4:]])
    np.testing.assert_allclose(atomwise, expected, rtol=1e-6)
    additional = columns(rows(run / "test_additional.csv"), "_true")
    np.testing.assert_allclose(additional, [a.info["composition"] for a in images[-4:]])
    assert rows(run / "metrics.csv")[0]["train_atomwise_mae"]


def test_missing_target_names_the_key_and_the_structure(tmp_path):
    images = labelled()
    del images[5].arrays["emt_energy"]
    cfg = config(weights={"atomwise": 1.0}, atomwise_key="emt_energy")
    with pytest.raises(
        DataFormatError, match=r"structure 5 of the training data.*'emt_energy'"
    ):
        train(model_with_heads(atomwise=1), images, **cfg, out=tmp_path)
    assert not (tmp_path / "version_0").exists()  # stopped before the run began


@pytest.mark.parametrize(
    ("features", "changes", "message"),
    [
        (
            {"atomwise": 2},
            {"weights": {"atomwise": 1.0}, "atomwise_key": "emt_energy"},
            r"'emt_energy' has 1 component per atom .*atomwise_output_features is 2",
        ),
        (
            {"additional": 3},
            {"weights": {"additional": 1.0}, "additional_key": "composition"},
            r"'composition' has 2 components per structure .*"
            r"additional_output_features is 3",
        ),
        (
            {},
            {"weights": {"atomwise": 1.0}},
            r"weights\.atomwise is 1\.0 but the model has no atomwise head",
        ),
    ],
)
def test_head_mismatch_is_a_config_error(tmp_path, features, changes, message):
    model = model_with_heads(**features)
    with pytest.raises(ConfigError, match=message):
        train(model, labelled(), **config(**changes), out=tmp_path)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ("1", "structure 3 of the training data (train.xyz) has no 'emt_energy'"),
        ("2", "has 1 component per atom (structure 0 of the training data "
              "(train.xyz)) but model.atomwise_output_features is 2"),
    ],
)  # fmt: skip
def test_cli_head_mistakes_exit_2_with_one_line(tmp_path, features, message):
    images = labelled(12)
    del images[3].arrays["emt_energy"]
    if features == "2":
        images = images[:3]
    path = tmp_path / "train.xyz"
    write(path, images)
    sets = [
        f"model.atomwise_output_features={features}", "train.weights.atomwise=1",
        "train.atomwise_key=emt_energy", "model.hidden_features=8",
        "model.embedding_features=8", "model.alignn_layers=1", "model.gcn_layers=1",
        "train.n_train=10" if features == "1" else "train.n_train=1",
        "train.n_val=1", "train.n_test=1", "train.keep_data_order=true",
    ]  # fmt: skip
    args = ["train", "alignn", "--data", str(path), "--out", str(tmp_path / "logs")]
    for item in sets:
        args += ["--set", item]
    result = run_cli(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("Error:")
    assert message in lines[0].replace(str(tmp_path) + "/", "")


def jarvis_record(atoms, k):
    """An alignn id_prop.json record with EMT labels and extra head targets."""
    labels = atoms.calc
    gold = float(np.mean(atoms.numbers == 79))
    return {
        "jid": f"cell-{k}",
        "atoms": {
            "lattice_mat": atoms.cell.array.tolist(),
            "coords": atoms.positions.tolist(),
            "elements": atoms.get_chemical_symbols(),
            "cartesian": True,
        },
        "energy_per_atom": labels.results["energy"] / len(atoms),
        "forces": labels.results["forces"].tolist(),
        "charges": atoms.arrays["emt_energy"].tolist(),
        "additional_output": [1.0 - gold, gold],
        "formula": atoms.get_chemical_formula(),
    }


def test_id_prop_json_keeps_per_atom_and_graph_values(tmp_path):
    images = labelled(3)
    records = [jarvis_record(a, k) for k, a in enumerate(images)]
    records[2]["odd"] = [1.0] * len(images[2])  # per atom here ...
    records[1]["odd"] = [1.0, 2.0]  # ... but not here: a graph value everywhere
    (tmp_path / "id_prop.json").write_text(json.dumps(records))
    read_back = read_alignn_folder(tmp_path)
    for atoms, original in zip(read_back, images, strict=True):
        np.testing.assert_allclose(
            atoms.arrays["charges"], original.arrays["emt_energy"]
        )
        assert atoms.info["additional_output"] == original.info["composition"]
        assert atoms.info["formula"] == original.get_chemical_formula()
    assert read_back[1].info["odd"] == [1.0, 2.0]
    assert "odd" in read_back[2].info
    assert "odd" not in read_back[2].arrays


def test_alignn_config_with_head_weights_trains_on_an_alignn_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    records = [jarvis_record(a, k) for k, a in enumerate(labelled(16))]
    (folder / "id_prop.json").write_text(json.dumps(records))
    alignn_config = {
        "neighbor_strategy": "pure_torch", "epochs": 2, "batch_size": 4,
        "n_train": 8, "n_val": 4, "n_test": 4, "num_workers": 0,
        "model": {
            "name": "alignn_atomwise_pure", "atom_input_features": 92,
            "hidden_features": 8, "embedding_features": 8, "alignn_layers": 1,
            "gcn_layers": 1, "atomwise_output_features": 3, "atomwise_weight": 0.5,
            "additional_output_features": 2, "additional_output_weight": 0.5,
        },
    }  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(alignn_config))
    run = train_from_config("alignn", path, data=folder, out=tmp_path / "logs")
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    train_section = hparams["train"]
    assert train_section["weights"]["atomwise"] == 0.5
    assert train_section["weights"]["additional"] == 0.5
    # train_alignn.py's default keys: the atomwise head learns the forces
    assert train_section["atomwise_key"] == "forces"
    assert train_section["additional_key"] == "additional_output"
    metrics = rows(run / "metrics.csv")
    assert len(metrics) == 2
    assert metrics[-1]["train_atomwise_mae"]
    assert metrics[-1]["val_additional_mae"]
    true = columns(rows(run / "test_atomwise.csv"), "_true")
    forces = np.concatenate([r["forces"] for r in records[-4:]])
    np.testing.assert_allclose(true, forces, rtol=1e-6, atol=1e-7)


def test_alignn_head_weights_and_keys_map_to_the_train_section():
    _, training = config_from_alignn(
        {
            "neighbor_strategy": "pure_torch",
            "model": {
                "name": "alignn_atomwise_pure",
                "atom_input_features": 92,
                "atomwise_weight": 0.25,
                "additional_output_weight": 0.75,
            },
        }
    )
    section = train_config_from_alignn(training)
    assert section["weights"]["atomwise"] == 0.25
    assert section["weights"]["additional"] == 0.75
    task = {
        k: section.pop(k) for k in list(section) if k in PotentialConfig.__match_args__
    }
    TrainConfig(**section)  # the rest is the engine's
    assert PotentialConfig(**task).atomwise_key == "forces"
