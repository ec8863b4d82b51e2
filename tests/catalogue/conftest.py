"""Inputs of the bad-input catalogue: a working folder of good files, trained runs.

Every case starts from good inputs in a fresh working folder and spoils one
thing; the trained runs (a tiny ALIGNN and a tiny diffusion model, one epoch)
are made once per session.
"""

from functools import cache
from pathlib import Path

import pytest
import yaml
from ase.build import bulk
from ase.io import read, write
from calculator_factories import TINY

from asegen.data import write as write_h5
from asegen.train.runner import train_from_config

EXAMPLES = Path(__file__).parents[2] / "examples" / "data" / "cu_au_emt.xyz"
SPLIT = {"n_train": 8, "n_val": 2, "n_test": 2, "keep_data_order": True}
ALIGNN_CONFIG = {
    "model": TINY,
    "train": {"epochs": 1, "batch_size": 4, "seed": 1, "scheduler": "none", **SPLIT},
}
SCORE_CONFIG = {
    "model": {"features": 8, "layers": 1, "cutoff": 4.0},
    "train": {"epochs": 1, "batch_size": 4, "seed": 1, **SPLIT},
}
AUGMENT_CONFIG = {
    "data": {"input": "inputs.xyz", "output": "out.xyz"},
    "config": {"n_per_structure": 2, "T": 300, "beta": 0.5,
               "sigma_range": [0.01, 0.05], "seed": 1, "units": "eV",
               "max_relax_steps": 5},
    "model": {"calculator": "+ase.calculators.emt.EMT()"},
}  # fmt: skip


@cache
def labelled(n: int = 12) -> tuple:
    """The first ``n`` EMT-labelled Cu-Au cells of the examples (read once)."""
    return tuple(read(EXAMPLES, index=f":{n}"))


def structures(n: int = 12) -> list:
    """Fresh copies of :func:`labelled`, free to spoil."""
    images = []
    for atoms in labelled(n):
        copy = atoms.copy()
        copy.calc = atoms.calc
        images.append(copy)
    return images


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def work(tmp_path, monkeypatch):
    """The working folder: data.xyz, data.h5, alignn.yaml, score.yaml, augment.yaml."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "data.xyz", structures())
    write_h5(tmp_path / "data.h5", structures())
    write_yaml(tmp_path / "alignn.yaml", ALIGNN_CONFIG)
    write_yaml(tmp_path / "score.yaml", SCORE_CONFIG)
    write(tmp_path / "inputs.xyz", [bulk("Cu", cubic=True), bulk("Au", cubic=True)])
    write_yaml(tmp_path / "augment.yaml", AUGMENT_CONFIG)
    return tmp_path


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Tiny trained runs: ``alignn`` and ``score`` (diffusion) run directories."""
    root = tmp_path_factory.mktemp("trained")
    write(root / "data.xyz", structures())
    configs = {"alignn": ALIGNN_CONFIG, "score": SCORE_CONFIG}
    return {
        kind: train_from_config(kind, config, data=root / "data.xyz", out=root / kind)
        for kind, config in configs.items()
    }
