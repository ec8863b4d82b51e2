"""The bundled surface generator ``pdo-surface`` and the default model of ``sample``.

A couple of samples with a few steps each: what is checked is which model
runs and where its atoms go, not their quality (the card measures that).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from ase.build import fcc111
from ase.io import read, write
from click.testing import CliRunner

import asegen
from asegen.cli import main
from asegen.pretrained import DEFAULTS, available, card

FEW = ["-n", "2", "--steps", "3", "--batch-size", "2", "--seed", "0"]


def run(*args: str) -> None:
    result = CliRunner().invoke(main, ["sample", *args])
    assert result.exit_code == 0, result.output


def test_pdo_surface_is_listed_and_has_a_card_with_held_out_metrics():
    assert "pdo-surface" in available()
    assert DEFAULTS["surface"] == "pdo-surface"
    info = card("pdo-surface")
    assert info["kind"] == "diffusion"
    assert any("valid" in key for key in info["metrics"])
    result = CliRunner().invoke(main, ["info", "pdo-surface"])
    assert result.exit_code == 0, result.output
    assert "bundled model: pdo-surface (diffusion)" in result.output
    assert (Path(asegen.__file__).parent / "pretrained/pdo-surface/model.pt").stat(
    ).st_size < 5e6  # fmt: skip


def test_a_template_without_model_or_window_gets_pdo_surface(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    slab = fcc111("Pd", size=(3, 3, 3), a=3.95, vacuum=7.0)
    write("slab.xyz", slab)
    run("--template", "slab.xyz", "--formula", "O2", *FEW, "-o", "default.xyz")
    run("pdo-surface", "--template", "slab.xyz", "--formula", "O2", *FEW,
        "-o", "named.xyz")  # fmt: skip
    default, named = read("default.xyz", ":"), read("named.xyz", ":")
    assert [len(a) for a in default] == [len(slab) + 2] * 2
    for a, b in zip(default, named, strict=True):
        assert np.array_equal(a.positions, b.positions)
        assert np.allclose(a.positions[: len(slab)], slab.positions, atol=1e-6)
    lo, hi = asegen.load("pdo-surface").process.confinement_above
    top = slab.positions[:, 2].max()
    z = np.concatenate([a.positions[len(slab) :, 2] for a in default])
    assert ((z >= top + lo - 1e-4) & (z <= top + hi + 1e-4)).all()


def test_without_a_template_sample_stays_on_pdo_bulk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run("--formula", "Pd2O2", *FEW, "-o", "default.xyz")
    run("pdo-bulk", "--formula", "Pd2O2", *FEW, "-o", "named.xyz")
    default, named = read("default.xyz", ":"), read("named.xyz", ":")
    for a, b in zip(default, named, strict=True):
        assert np.array_equal(a.cell.array, b.cell.array)
        assert np.array_equal(a.positions, b.positions)


def test_the_help_names_both_defaults():
    result = CliRunner().invoke(main, ["sample", "--help"])
    text = re.sub(r"-\n\s*", "-", result.output)  # textwrap breaks at hyphens
    assert "bulk generator (pdo-bulk)" in text
    assert "with --template the bundled generator of O on Pd" in " ".join(text.split())
    assert "(pdo-surface" in text
