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
