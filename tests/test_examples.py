"""Every example script runs at its small size (as ``make examples`` does)."""

import subprocess
import sys

from calculator_factories import alignn_model

from asegen.models.checkpoint import save_checkpoint


def run(*args):
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_pair_potential_matches_ase():
    out = run("examples/pair_potential.py", "--small")
    forces_error = float(out.split("max |dF|")[1].split()[0])
    assert forces_error < 1e-10


def test_alignn_md_runs_on_a_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt", alignn_model())
    out = run("examples/alignn_md.py", str(tmp_path / "run"), "--small")
    assert "NVE, 20 steps" in out


def test_place_molecules_runs_on_a_checkpoint(tmp_path):
    from asegen.models.gschnet import GSchNet, GSchNetConfig

    config = GSchNetConfig(
        atom_types=[1, 6, 8], n_atom_basis=8, n_filters=8, n_interactions=1,
        type_prediction_n_layers=2, type_prediction_n_hidden=8,
        distance_prediction_n_layers=2, distance_prediction_n_hidden=8,
        model_cutoff=4.0,
    )  # fmt: skip
    save_checkpoint(tmp_path / "placer.pt", GSchNet(config))
    out = run("examples/place_molecules.py", str(tmp_path / "placer.pt"), "--small")
    assert "attempts finished" in out
    assert "fragment unchanged: True" in out
    assert "valid" in out


def test_demo_report_runs_on_a_trained_run(tmp_path):
    save_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt", alignn_model())
    out = run(
        "examples/demo_report.py", str(tmp_path / "run"), str(tmp_path / "out"),
        "--small",
    )  # fmt: skip
    assert "REPORT.md" in out
    report = (tmp_path / "out" / "REPORT.md").read_text()
    assert "land on tetragonal PdO" in report
    assert "valid" in report
    assert (tmp_path / "out" / "pd4o4_gallery.png").is_file()
    assert (tmp_path / "out" / "md_energy.png").is_file()
