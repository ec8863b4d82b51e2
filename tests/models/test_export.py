"""TorchScript export matches ``predict``, through the Python API and the CLI."""

import json

import numpy as np
import pytest
import torch
from calculator_factories import ALIGNN_COMPATIBLE, alignn_model
from click.testing import CliRunner

from asegen.cli import main
from asegen.graph import atoms_to_graph, neighbor_list
from asegen.models.checkpoint import save_checkpoint
from asegen.models.export import export_torchscript
from asegen.models.potential import predict
from asegen.testing import make_alloy, make_cluster, make_slab, make_triclinic

# torch >= 2.10 marks TorchScript deprecated; LAMMPS and C++ hosts still load it.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.load:DeprecationWarning")


def cluster_in_box():
    atoms = make_cluster()
    atoms.cell = [14.0, 15.0, 16.0]
    return atoms


@pytest.fixture(
    scope="module", params=[{}, ALIGNN_COMPATIBLE], ids=["asegen", "alignn-compatible"]
)
def exported(request, tmp_path_factory):
    """A float64 model and its exported module."""
    model = alignn_model(**request.param).double().eval()
    path = tmp_path_factory.mktemp("export") / "model.pt"
    export_torchscript(model, path)
    return model, torch.jit.load(path)


def evaluate(module, atoms, model, *extra, dtype=torch.float64):
    i, j, shifts = neighbor_list(
        atoms, model.config.cutoff, max_neighbors=model.config.max_neighbors
    )
    return module(
        torch.tensor(atoms.positions, dtype=dtype),
        torch.tensor(atoms.cell.array, dtype=dtype),
        torch.tensor(atoms.numbers),
        torch.tensor(np.stack([i, j])),
        torch.tensor(shifts, dtype=dtype),
        *extra,
    )


def reference(model, atoms):
    graph = atoms_to_graph(
        atoms,
        model.config.cutoff,
        max_neighbors=model.config.max_neighbors,
        dtype=torch.float64,
    )
    return predict(model, graph, stress=True)


def assert_matches(out, ref):
    np.testing.assert_allclose(out["energy"].numpy(), ref["energy"][0], atol=1e-10)
    for key in ("energies", "forces"):
        np.testing.assert_allclose(out[key].numpy(), ref[key], atol=1e-10)
    np.testing.assert_allclose(out["stress"].numpy(), ref["stress"][0], atol=1e-10)


@pytest.mark.parametrize(
    "make_atoms",
    [make_alloy, make_triclinic, make_slab, make_cluster, cluster_in_box],
    ids=["alloy", "triclinic", "slab", "cluster", "cluster-in-box"],
)
def test_exported_module_matches_predict(exported, make_atoms):
    model, module = exported
    atoms = make_atoms()
    ref = reference(model, atoms)
    out = evaluate(module, atoms, model, True, torch.tensor(atoms.pbc))
    assert_matches(out, ref)
    assert np.isnan(out["stress"].numpy()).all() == (not atoms.pbc.all())


def test_without_pbc_input_zero_volume_means_no_stress(exported):
    model, module = exported
    crystal = make_alloy()
    assert_matches(evaluate(module, crystal, model, True), reference(model, crystal))
    cluster = make_cluster()
    ref = reference(model, cluster)
    out = evaluate(module, cluster, model, True)
    np.testing.assert_allclose(out["forces"].numpy(), ref["forces"], atol=1e-10)
    assert np.isnan(out["stress"].numpy()).all()


def test_without_compute_stress_forces_are_unchanged(exported):
    model, module = exported
    atoms = make_alloy()
    ref = reference(model, atoms)
    out = evaluate(module, atoms, model, False)
    np.testing.assert_allclose(out["forces"].numpy(), ref["forces"], atol=1e-10)
    np.testing.assert_array_equal(out["stress"].numpy(), np.zeros((3, 3)))


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
    out = evaluate(module, make_alloy(), model, True, dtype=torch.float32)
    assert torch.isfinite(out["energy"])
    assert torch.isfinite(out["stress"]).all()


def test_cli_export_missing_run_is_one_line(tmp_path):
    result = CliRunner().invoke(
        main, ["export", str(tmp_path / "nope"), str(tmp_path / "m.pt")]
    )
    assert result.exit_code == 2
    assert result.output.strip().startswith("Error:")
    assert len(result.output.strip().splitlines()) == 1


def test_cli_export_refuses_to_replace_or_to_write_a_folder(tmp_path):
    save_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt", alignn_model())
    out = tmp_path / "m.pt"
    out.write_text("keep me")
    cases = [
        (out, [], f"{out} already exists; pass --overwrite to replace it"),
        (tmp_path / "no" / "m.pt", [], f"the folder {tmp_path / 'no'} of"),
        (tmp_path, [], f"{tmp_path} is a folder; give the file to write"),
    ]
    for target, extra, message in cases:
        result = CliRunner().invoke(
            main, ["export", str(tmp_path / "run"), str(target), *extra]
        )
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error:")
        assert len(result.output.strip().splitlines()) == 1
        assert message in result.output
    assert out.read_text() == "keep me"
    result = CliRunner().invoke(
        main, ["export", str(tmp_path / "run"), str(out), "--overwrite"]
    )
    assert result.exit_code == 0, result.output
    assert torch.jit.load(out) is not None
