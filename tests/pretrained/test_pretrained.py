"""Bundled models by name: listing, cards, loading, defaults of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import asegen
import asegen.pretrained as pretrained
from asegen.cli import main
from asegen.errors import InputNotFoundError
from asegen.models.checkpoint import save_checkpoint
from asegen.models.gschnet import GSchNet, GSchNetConfig
from asegen.placer import AutoregressivePlacer


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bundle folder holding one small placer named like the default."""
    folder = tmp_path / "qm9"
    folder.mkdir()
    config = GSchNetConfig(
        atom_types=[1, 6, 8], n_atom_basis=8, n_filters=8, n_interactions=1,
        type_prediction_n_layers=2, type_prediction_n_hidden=8,
        distance_prediction_n_layers=2, distance_prediction_n_hidden=8,
        model_cutoff=4.0,
    )  # fmt: skip
    save_checkpoint(folder / "model.pt", GSchNet(config))
    card = {"kind": "placer", "summary": "a test placer", "metrics": {"valid": 0.5}}
    (folder / "card.json").write_text(json.dumps(card))
    (tmp_path / "half").mkdir()  # a folder without a model is not listed
    monkeypatch.setattr(pretrained, "_HERE", tmp_path)
    return tmp_path


def test_bundled_models_are_listed_and_load_by_name(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pretrained.available() == {"qm9": "a test placer"}
    monkeypatch.chdir(tmp_path / "half")  # no file named qm9 here
    assert isinstance(asegen.load("qm9"), AutoregressivePlacer)
    assert pretrained.card("qm9")["metrics"] == {"valid": 0.5}
    with pytest.raises(InputNotFoundError, match="bundled: qm9"):
        pretrained.checkpoint("pdo")
    with pytest.raises(InputNotFoundError, match="bundled: qm9"):
        asegen.load("no-such-model")


def test_the_cli_finds_bundled_models(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path / "half")
    runner = CliRunner()
    info = runner.invoke(main, ["info", "qm9"])
    assert info.exit_code == 0, info.output
    assert "a test placer" in info.output
    assert "metric:      valid 0.5" in info.output
    for label in ("bundled model:", "summary:", "metric:", "path:", "checkpoint:"):
        lines = [line for line in info.output.splitlines() if line.startswith(label)]
        assert len(lines) == 1, (label, info.output)
    assert lines == [f"checkpoint:  {bundle / 'qm9' / 'model.pt'}"]
    placed = runner.invoke(
        main, ["place", "-n", "2", "--max-n-atoms", "3", "--seed", "0"]
    )
    assert placed.exit_code == 0, placed.output  # the default placer, no MODEL
    assert Path("placed.xyz").exists() or "placed 0" in placed.output
