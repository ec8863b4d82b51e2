"""The task seam: a model of another kind, defined here only, trains on the engine.

The toy is a denoiser: items are structures whose positions carry Gaussian
noise drawn afresh every epoch, and the model predicts that noise (an
equivariant sum of edge vectors). Nothing in asegen.train knows about it.
"""

import csv
from dataclasses import dataclass

import pytest
import torch
import yaml
from ase.io import read, write
from torch import nn

from asegen.errors import ConfigError
from asegen.graph import atoms_to_graph, batch_graphs, edge_vectors
from asegen.models.base import AtomisticModel, register_model
from asegen.models.checkpoint import load_checkpoint
from asegen.nn import scatter_sum
from asegen.train import Items, Task, TrainConfig, item_generator, register_task, train
from asegen.train import engine as engine_module
from asegen.train.runner import train_from_config
from asegen.train.split import split_indices

DATA = "examples/data/cu_au_emt.xyz"


@register_model("toy_denoiser")
class Denoiser(AtomisticModel):
    """Predicts the noise on each atom from its neighbours (an equivariant sum)."""

    task = "toy_denoise"

    def __init__(self, width: int = 16, cutoff: float = 3.5) -> None:
        super().__init__()
        self.width, self.cutoff = width, cutoff
        self.species = nn.Embedding(119, width)
        self.radial = nn.Sequential(nn.Linear(1, width), nn.SiLU(), nn.Linear(width, 1))

    def forward(self, graph):
        vectors = edge_vectors(graph)  # (E, 3)
        lengths = vectors.norm(dim=1, keepdim=True)  # (E, 1)
        i, j = graph.edge_index
        gate = self.radial(lengths) * self.species(graph.numbers)[j].mean(1, True)
        noise = scatter_sum(gate * vectors / lengths, i, graph.numbers.shape[0])
        return {"noise": noise}  # (N, 3)

    def hparams(self):
        return {"width": self.width, "cutoff": self.cutoff}

    @classmethod
    def from_hparams(cls, hparams):
        return cls(**hparams)

    @classmethod
    def from_config(cls, section):
        return cls(**section)

    def graph_options(self):
        return {"cutoff": self.cutoff}


@dataclass(frozen=True)
class DenoiseConfig:
    sigma: float = 0.1


class NoisyItems(Items):
    def __init__(self, structures, indices, cutoff, sigma, seed, stream):
        self.structures, self.indices = structures, list(indices)
        self.cutoff, self.sigma, self.seed, self.stream = cutoff, sigma, seed, stream

    def __len__(self):
        return 2 * len(self.indices)  # two noisy copies of every structure

    def item(self, k, epoch):
        atoms = self.structures[self.indices[k // 2]].copy()
        generator = item_generator(self.seed, self.stream, epoch, k)
        noise = torch.randn(len(atoms), 3, generator=generator, dtype=torch.float64)
        atoms.positions += self.sigma * noise.numpy()
        graph = atoms_to_graph(atoms, self.cutoff, dtype=torch.float64)
        return graph.with_labels(atom={"noise": noise})


@register_task("toy_denoise")
class DenoiseTask(Task):
    section = "denoise"
    config_class = DenoiseConfig
    metrics = ("loss", "noise_mse", "noise_cosine")

    def items(self, structures, indices, *, split):
        stream = ("train", "val", "test").index(split)
        return NoisyItems(
            structures, indices, self.model.cutoff, self.settings.sigma, self.seed,
            stream,
        )  # fmt: skip

    def loss(self, model, batch, *, training):
        pred, true = model(batch)["noise"], batch.atom_labels["noise"]
        mse = (pred - true).pow(2).mean()
        cosine = nn.functional.cosine_similarity(pred, true, dim=1).mean().detach()
        value = float(mse.detach())
        metrics = {"loss": value, "noise_mse": value, "noise_cosine": float(cosine)}
        return mse, metrics

    def report(self, run, model, test, *, split, device, dtype):
        with torch.no_grad():
            batch = batch_graphs([test[(0, k)] for k in range(len(test))])
            loss, _ = self.loss(model, batch.to(device, dtype), training=False)
        (run / "test_noise_mse.txt").write_text(f"{float(loss):.6g}\n")


@pytest.fixture(scope="module")
def structures():
    return read(DATA, index=":20")


def settings(**changes):
    base = {"epochs": 4, "batch_size": 8, "learning_rate": 1e-2, "seed": 5,
            "n_train": 12, "n_val": 4, "n_test": 4, "dtype": "float64"}  # fmt: skip
    return TrainConfig(**{**base, **changes})


def toy(seed=0):
    torch.manual_seed(seed)
    return Denoiser()


def rows(run):
    with (run / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_a_model_of_another_kind_trains_with_its_own_columns(structures, tmp_path):
    run = train(toy(), structures, config=settings(), task=DenoiseConfig(0.2),
                out=tmp_path)  # fmt: skip
    table = rows(run)
    assert list(table[0]) == [
        "epoch", "lr", "train_loss", "train_noise_mse", "train_noise_cosine",
        "val_loss", "val_noise_mse", "val_noise_cosine", "train_seconds", "seconds",
    ]  # fmt: skip
    assert all(r["val_noise_cosine"] for r in table)
    assert float(table[-1]["val_loss"]) < float(table[0]["val_loss"])
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["task"] == "toy_denoise"
    assert hparams["denoise"] == {"sigma": 0.2}
    assert "sigma" not in hparams["train"]
    assert hparams["data"]["n_train"] == 24  # two items per structure
    model, _ = load_checkpoint(run)
    assert isinstance(model, Denoiser)
    assert float((run / "test_noise_mse.txt").read_text()) > 0
    assert (run / "loss_curves.png").is_file()


def test_items_are_fresh_every_epoch_and_the_same_for_one_key(structures):
    items = DenoiseTask(toy(), DenoiseConfig(), seed=1).items(
        structures, range(4), split="train"
    )
    first, again = items[(0, 3)], items[(0, 3)]
    later = items[(1, 3)]
    labels = first.atom_labels["noise"]
    assert torch.equal(labels, again.atom_labels["noise"])
    assert not torch.allclose(labels, later.atom_labels["noise"])
    assert not torch.allclose(labels, items[(0, 2)].atom_labels["noise"])


def interrupted(monkeypatch, after):
    """Make the next run stop after writing ``after`` rows of metrics.csv."""
    calls = {"n": 0}
    original = engine_module.MetricsLog.append

    def append(self, row):
        original(self, row)
        calls["n"] += 1
        if calls["n"] == after:  # the row is written, the checkpoint not yet
            raise KeyboardInterrupt

    monkeypatch.setattr(engine_module.MetricsLog, "append", append)
    return lambda: monkeypatch.setattr(engine_module.MetricsLog, "append", original)


@pytest.mark.parametrize("ema", [None, 0.8])
def test_resume_is_exact(structures, tmp_path, monkeypatch, ema):
    config = settings(ema_decay=ema)
    reference = train(toy(), structures, config=config, out=tmp_path / "a")
    restore = interrupted(monkeypatch, after=3)
    with pytest.raises(KeyboardInterrupt):
        train(toy(), structures, config=config, out=tmp_path / "b")
    restore()
    run = train(toy(seed=9), structures, config=config, out=tmp_path / "b",
                resume=True)  # fmt: skip
    assert [r["epoch"] for r in rows(run)] == ["0", "1", "2", "3"]
    for got, want in zip(rows(run), rows(reference), strict=True):
        assert got["val_loss"] == want["val_loss"]
    for name in ("best.pt", "last.pt"):
        a, saved_a = load_checkpoint(reference / "checkpoints" / name)
        b, saved_b = load_checkpoint(run / "checkpoints" / name)
        for key, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[key]), (name, key)
    if ema is not None:
        raw, averaged = saved_a["training_state_dict"], saved_a["state_dict"]
        assert not torch.equal(raw["radial.0.weight"], averaged["radial.0.weight"])
        for key, value in raw.items():
            assert torch.equal(value, saved_b["training_state_dict"][key]), key


def test_the_average_is_what_validation_and_best_pt_see(structures, tmp_path):
    run = train(toy(), structures, config=settings(epochs=1, ema_decay=0.5),
                out=tmp_path)  # fmt: skip
    _, last = load_checkpoint(run / "checkpoints" / "last.pt")
    best, _ = load_checkpoint(run / "checkpoints" / "best.pt")
    raw = toy()
    raw.load_state_dict(last["training_state_dict"])
    for key, value in best.state_dict().items():
        assert torch.equal(value, last["state_dict"][key]), key
    assert not torch.equal(best.radial[0].weight, raw.radial[0].weight)
    task = DenoiseTask(best, DenoiseConfig(), seed=5)
    _, val_indices, _ = split_indices(len(structures), settings(), with_val=False)
    val = task.items(structures, val_indices, split="val")
    batch = batch_graphs([val[(0, k)] for k in range(len(val))])
    with torch.no_grad():
        loss = {name: task.loss(m.double(), batch, training=False)[0]
                for name, m in (("best", best), ("raw", raw))}  # fmt: skip
    logged = float(rows(run)[0]["val_loss"])
    assert logged == pytest.approx(float(loss["best"]), rel=1e-7)  # 8 digits
    assert logged != pytest.approx(float(loss["raw"]), rel=1e-6)


def test_config_files_reach_the_task_section(structures, tmp_path):
    path = tmp_path / "toy.xyz"
    write(path, structures)
    config = {
        "model": {"width": 8},
        "denoise": {"sigma": 0.3},
        "train": {"epochs": 1, "n_train": 12, "n_val": 4, "n_test": 4},
    }
    run = train_from_config(
        "toy_denoiser", config, data=path, out=tmp_path / "logs",
        overrides=["sigma=0.25"],
    )  # fmt: skip
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["denoise"]["sigma"] == 0.25
    assert hparams["model"]["width"] == 8
    with pytest.raises(
        ConfigError, match=r"'denoise.sigmaa'; did you mean 'denoise.sigma'"
    ):
        train_from_config("toy_denoiser", {"denoise": {"sigmaa": 1}}, data=path,
                          out=tmp_path / "bad")  # fmt: skip
    with pytest.raises(ConfigError, match=r"'denoize'; did you mean 'denoise'"):
        train_from_config("toy_denoiser", {"denoize": {}}, data=path,
                          out=tmp_path / "bad")  # fmt: skip
    assert not (tmp_path / "bad").exists()


def test_an_undeclared_metric_is_a_bug_not_a_silent_drop(structures, tmp_path):
    class Careless(DenoiseTask):
        def loss(self, model, batch, *, training):
            loss, metrics = super().loss(model, batch, training=training)
            return loss, {**metrics, "noise_max": 1.0}

    register_task("toy_careless")(Careless)
    model = toy()
    model.task = "toy_careless"
    with pytest.raises(ValueError, match=r"'train_noise_max'.*not among the declared"):
        train(model, structures, config=settings(epochs=1), out=tmp_path)


def test_an_unregistered_task_is_one_clear_line(structures, tmp_path):
    model = toy()
    model.task = "nowhere"
    with pytest.raises(ConfigError, match="names the task 'nowhere', which is not"):
        train(model, structures, config=settings(epochs=1), out=tmp_path)
    assert not tmp_path.joinpath("version_0").exists()


def test_runs_report_plain_lines_and_a_summary(structures, tmp_path, capsys):
    train(toy(), structures, config=settings(epochs=2), out=tmp_path, progress=False)
    lines = capsys.readouterr().err.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    assert all("val_loss" in line and "val_noise_cosine" in line for line in epochs)
    assert lines[-1].startswith("finished 2 epochs; kept epoch ")
    assert lines[-1].endswith("checkpoints/best.pt")
