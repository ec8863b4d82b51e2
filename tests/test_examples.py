"""Every example script runs at its small size (as ``make examples`` does)."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from calculator_factories import alignn_model

from asegen.models.checkpoint import save_checkpoint


def run(*args, cwd=None):
    """Run an example; it must succeed and warn about nothing in its own code."""
    done = subprocess.run(
        [sys.executable, "-W", "default", *(str(a) for a in args)],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    own = []
    for line in done.stderr.splitlines():
        warned = WARNING.match(line)
        if warned:
            path = Path(cwd or ROOT, warned[1]).resolve()
            if path.is_relative_to(ROOT / "examples") or path.is_relative_to(
                ROOT / "asegen"
            ):
                own.append(line)
    assert not own, own
    return done.stdout


ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
WARNING = re.compile(r"^(\S+\.py):\d+: \w*Warning")


def number_after(text, label):
    """The first number after ``label`` in ``text``."""
    return float(text.split(label)[1].split()[0])


def test_pair_potential_matches_ase():
    out = run("examples/pair_potential.py", "--small")
    forces_error = float(out.split("max |dF|")[1].split()[0])
    assert forces_error < 1e-10


def test_alignn_md_with_the_bundled_force_field_conserves_energy():
    out = run("examples/alignn_md.py", "--small")
    assert "relaxed:" in out
    assert abs(number_after(out, "NVE, 20 steps of 1 fs: drift")) < 1.0  # meV/atom
    assert "Langevin at 600 K" in out


def test_augment_pdo_writes_labelled_families(tmp_path):
    out = run(EXAMPLES / "augment_pdo.py", "--small", "--out", "aug.h5", cwd=tmp_path)
    from asegen import data

    written = data.read(tmp_path / "aug.h5")
    assert len(written) == 8  # 2 seeds x 4
    assert "wrote 8 structures" in out
    assert {a.info["starting-structure"] for a in written} == {0, 1}
    assert all(a.get_forces().shape == (len(a), 3) for a in written)


def test_sample_pdo_makes_and_evaluates_pd4o4():
    out = run("examples/sample_pdo.py", "--small")
    assert out.count("O4Pd4: cell") == 2
    assert number_after(out, "composition Pd4O4") == 1.0
    assert "E/atom relaxed, mean (eV)" in out


def test_sample_surface_puts_o_inside_the_window_of_the_bundled_model():
    out = run("examples/sample_surface.py", "--small")
    lo, hi = (float(x) for x in re.findall(r"[-+]\d+\.\d+", out.splitlines()[0]))
    assert (lo, hi) == (-0.6, 2.5)  # the window pdo-surface keeps, on the slab's top
    heights = [float(x) for x in re.findall(r"(-?\d+\.\d+)[,\]]", out)]
    assert len(heights) == 4  # 2 samples x O2
    assert all(lo <= h <= hi for h in heights)
    assert out.count("relaxed E = -") == 2


def test_train_alignn_trains_and_reports_held_out_errors(tmp_path):
    out = run(EXAMPLES / "train_alignn.py", "--small", "--out", "logs", cwd=tmp_path)
    assert (tmp_path / "logs" / "version_0" / "checkpoints" / "best.pt").is_file()
    assert (tmp_path / "logs" / "version_0" / "metrics.csv").is_file()
    assert 0 < number_after(out, "energy MAE") < 1000  # meV/atom, finite


def test_distil_emt_distils_checks_and_resumes(tmp_path):
    out = run(EXAMPLES / "distil_emt.py", "--small", "--out", "student", cwd=tmp_path)
    assert out.startswith("distil: 24 structures")
    assert (tmp_path / "student" / "REPORT.md").is_file()
    assert np.isfinite(number_after(out, "unseen Cu6Au2: energy error"))
    again = run(EXAMPLES / "distil_emt.py", "--small", "--out", "student", cwd=tmp_path)
    assert again.splitlines()[0] == out.splitlines()[0]  # nothing new was made


def test_check_calculator_passes_on_the_bundled_force_field():
    out = run("examples/check_calculator.py", "--small")
    assert "pdo (float64): every check passed on bulk, cluster" in out
    assert "EMT: every check passed" in out


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
    assert "land on tetragonal PdO (the model card: " in report
    assert "valid" in report
    assert (tmp_path / "out" / "pd4o4_gallery.png").is_file()
    assert (tmp_path / "out" / "md_energy.png").is_file()
