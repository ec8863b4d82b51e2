"""TorchScript export matches the calculator, through the Python API and the CLI."""

import json

import numpy as np
import pytest
import torch
from calculator_factories import ALIGNN_COMPATIBLE, alignn_model
from click.testing import CliRunner

from asegen.calculators import ALIGNNCalculator
from asegen.cli import main
from asegen.graph import neighbor_list
from asegen.models.checkpoint import save_checkpoint
from asegen.models.export import export_torchscript
from asegen.testing import make_alloy, make_cluster


def evaluate(module, atoms, cutoff, max_neighbors, dtype):
    i, j, shifts = neighbor_list(atoms, cutoff, max_neighbors=max_neighbors)
    return module(
        torch.tensor(atoms.positions, dtype=dtype),
        torch.tensor(atoms.cell.array, dtype=dtype),
        torch.tensor(atoms.numbers),
        torch.tensor(np.stack([i, j])),
        torch.tensor(shifts, dtype=dtype),
        bool(atoms.pbc.all()),
    )


@pytest.mark.parametrize(
    "options", [{}, ALIGNN_COMPATIBLE], ids=["asegen", "alignn-compatible"]
)
@pytest.mark.parametrize("make_atoms", [make_alloy, make_cluster])
def test_exported_module_matches_calculator(tmp_path, options, make_atoms):
    model = alignn_model(**options).double()
    export_torchscript(model, tmp_path / "model.pt")
    module = torch.jit.load(tmp_path / "model.pt")
    atoms = make_atoms()
    out = evaluate(
        module, atoms, model.config.cutoff, model.config.max_neighbors, torch.float64
    )
    atoms.calc = ALIGNNCalculator(model, device="cpu", dtype=torch.float64)
    assert out["energy"].item() == pytest.approx(
        atoms.get_potential_energy(), abs=1e-10
    )
    np.testing.assert_allclose(out["forces"].numpy(), atoms.get_forces(), atol=1e-10)
    np.testing.assert_allclose(
        out["energies"].numpy(), atoms.calc.results["energies"], atol=1e-10
    )
    if atoms.pbc.all():
        np.testing.assert_allclose(
            out["stress"].numpy(), atoms.get_stress(voigt=False), atol=1e-10
        )


def test_cli_export_writes_metadata(tmp_path):
    model = alignn_model()
    save_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt", model)
    result = CliRunner().invoke(
        main, ["export", str(tmp_path / "run"), str(tmp_path / "m.pt")]
    )
    assert result.exit_code == 0, result.output
    extra = {"metadata.json": ""}
    module = torch.jit.load(tmp_path / "m.pt", _extra_files=extra)
    metadata = json.loads(extra["metadata.json"])
    assert metadata["cutoff"] == model.config.cutoff
    assert metadata["units"]["energy"] == "eV"
    out = evaluate(module, make_alloy(), model.config.cutoff, None, torch.float32)
    assert torch.isfinite(out["energy"])


def test_cli_export_missing_run_is_one_line(tmp_path):
    result = CliRunner().invoke(
        main, ["export", str(tmp_path / "nope"), str(tmp_path / "m.pt")]
    )
    assert result.exit_code == 2
    assert result.output.strip().startswith("Error:")
    assert len(result.output.strip().splitlines()) == 1
