"""``asegen distil``: EMT teacher, two tiny seeds, a tiny ALIGNN student."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from click.testing import CliRunner

from asegen import data
from asegen.calculators import ALIGNNCalculator
from asegen.cli import main
from asegen.distil import distil
from asegen.testing import assert_forces_match_fd

TEACHER = "+ase.calculators.emt.EMT()"
SETTINGS = {
    "structures": 40,
    "model": {
        "hidden_features": 8,
        "embedding_features": 8,
        "alignn_layers": 1,
        "gcn_layers": 1,
    },
    "train": {"epochs": 3, "batch_size": 8},
    "md": {"steps": 30},
}
OVERRIDES = [
    f"{section}.{key}={value}"
    for section, values in SETTINGS.items()
    if isinstance(values, dict)
    for key, value in values.items()
]
ARGS = ["-n", "40", *(arg for item in OVERRIDES for arg in ("--set", item))]


def write_seeds(path):
    seeds = [
        bulk("Cu", "fcc", a=3.6, cubic=True),
        bulk("Au", "fcc", a=4.08) * (2, 1, 1),
    ]
    ase.io.write(path, seeds)
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One whole run, shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("distil")
    seeds = write_seeds(folder / "seeds.xyz")
    result = distil(TEACHER, seeds, folder / "run", config=SETTINGS)
    return result, seeds


def read_json(path):
    return json.loads(path.read_text())


def files(folder):
    """Every file under ``folder`` with its modification time."""
    return {p: p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_stage_leaves_its_files(finished):
    result, _ = finished
    out = result.out
    assert result.ran == ["augment", "split", "train", "validate"]
    for name in (
        "distil.yaml",
        "data/augmented.h5",
        "data/train.h5",
        "data/val.h5",
        "data/test.h5",
        "train/version_0/checkpoints/best.pt",
        "validation/parity_energy.png",
        "validation/parity_forces.png",
        "validation/parity_stress.png",
        "validation/md_energy.png",
        "REPORT.md",
    ):
        assert (out / name).is_file(), name
    augmented = data.read(out / "data" / "augmented.h5")
    assert len(augmented) == 40  # 2 seeds x 20
    sizes = read_json(out / "data" / "splits.json")["splits"]
    assert sum(s["structures"] for s in sizes.values()) == 40
    assert all(s["structures"] > 0 for s in sizes.values())


def test_splits_keep_branches_whole(finished):
    result, _ = finished
    folder = result.out / "data"
    parent, split_of = {}, {}
    for name in ("train", "val", "test"):
        for atoms in data.read(folder / f"{name}.h5"):
            parent[atoms.info["id"]] = atoms.info["parent"]
            split_of[atoms.info["id"]] = name
    assert len(split_of) == 40  # every structure in exactly one split

    def branch(node):
        while parent[node] != "root" and parent[parent[node]] != "root":
            node = parent[node]
        return node

    for node, name in split_of.items():
        if parent[node] == "root":
            assert name == "train"
        else:
            assert split_of[branch(node)] == name


def test_parity_and_md_are_reported(finished):
    result, _ = finished
    parity = read_json(result.out / "validation" / "parity.json")
    test_size = read_json(result.out / "data" / "splits.json")["splits"]["test"]
    assert parity["structures"] == test_size["structures"]
    for name in ("energy", "forces", "stress"):  # both seeds are periodic
        assert math.isfinite(parity[name]["mae"])
        assert parity[name]["mae"] > 0
    md = read_json(result.out / "validation" / "md.json")
    assert isinstance(md["stable"], bool)
    assert [run["atoms"] for run in md["runs"]] == [4, 2]
    for run in md["runs"]:
        assert run["steps"] == 30 or not run["stable"]
    report = (result.out / "REPORT.md").read_text()
    assert "meV/atom" in report
    assert "NVE" in report
    assert result.summary.startswith("distil: 40 structures")
    assert "MD stable" in result.summary or "MD UNSTABLE" in result.summary


def test_student_loads_and_its_forces_are_a_gradient(finished):
    result, seeds = finished
    calc = ALIGNNCalculator.load(result.run, dtype="float64", device="cpu")
    atoms = ase.io.read(seeds, 0)
    atoms.rattle(0.05, seed=1)
    assert_forces_match_fd(calc, atoms)


def test_rerun_after_the_end_changes_nothing(finished, monkeypatch):
    result, seeds = finished
    before = files(result.out)
    monkeypatch.chdir(result.out.parent)
    answer = CliRunner().invoke(
        main, ["distil", TEACHER, str(seeds), "--out", "run", *ARGS]
    )
    assert answer.exit_code == 0, answer.output
    assert "nothing to do" in answer.output
    last = answer.output.strip().splitlines()[-1]
    assert last.rpartition("; ")[0] == result.summary.rpartition("; ")[0]
    assert files(result.out) == before


def test_stopped_after_augment_then_resumed_gives_the_same_run(finished, tmp_path):
    result, seeds = finished
    out = tmp_path / "run"
    first = distil(TEACHER, seeds, out, config=SETTINGS, stop_after="augment")
    assert first.ran == ["augment"]
    assert first.run is None
    assert not (out / "data" / "splits.json").exists()
    second = distil(TEACHER, seeds, out, config=SETTINGS)
    assert second.ran == ["split", "train", "validate"]
    for name in ("augmented", "train", "val", "test"):
        ids = [a.info["id"] for a in data.read(out / "data" / f"{name}.h5")]
        reference = data.read(result.out / "data" / f"{name}.h5")
        assert ids == [a.info["id"] for a in reference], name
        assert len(set(ids)) == len(ids)


def test_a_run_stopped_after_training_ended_is_not_trained_further(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.xyz")
    out = tmp_path / "run"
    budget = {**SETTINGS, "train": {**SETTINGS["train"], "max_minutes": 1e-5}}
    distil(TEACHER, seeds, out, config=budget, stop_after="train")
    metrics = (out / "train" / "version_0" / "metrics.csv").read_text()
    assert len(metrics.splitlines()) == 2  # the budget ended it after one epoch
    (out / "train" / "done.json").unlink()  # as if killed just before writing it
    again = distil(TEACHER, seeds, out, config=budget, stop_after="train")
    assert again.ran == ["train"]
    assert (out / "train" / "version_0" / "metrics.csv").read_text() == metrics
    assert read_json(out / "train" / "done.json")["epochs"] == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL")
def test_killed_during_training_resumes_without_duplicates(tmp_path):
    seeds = write_seeds(tmp_path / "seeds.xyz")
    args = [sys.executable, "-m", "asegen", "distil", TEACHER, str(seeds)]
    args += ["--out", "run", *ARGS, "--set", "train.epochs=12"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    last = tmp_path / "run" / "train" / "version_0" / "checkpoints" / "last.pt"
    end = time.monotonic() + 120
    while process.poll() is None and not last.exists() and time.monotonic() < end:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before a kill could land"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not (tmp_path / "run" / "train" / "done.json").exists()
    again = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 0, again.stderr
    assert "distil: augment\n" not in again.stderr  # that stage was complete
    assert "epoch 1/12 " not in again.stderr  # training resumed from last.pt
    # the engine's report is on the validation split (n_test 0) and says so;
    # "test" is left to distil's own held-out numbers
    lines = again.stderr.splitlines()
    assert any(line.startswith("validation energy per atom MAE ") for line in lines)
    assert not [line for line in lines if line.startswith("test ")], again.stderr
    run = tmp_path / "run"
    epochs = [
        line.split(",")[0]
        for line in (run / "train" / "version_0" / "metrics.csv")
        .read_text()
        .splitlines()[1:]
    ]
    assert epochs == [str(e) for e in range(12)]
    assert sorted(p.name for p in (run / "train").iterdir()) == [
        "done.json",
        "version_0",
    ]
    ids = [a.info["id"] for a in data.read(run / "data" / "augmented.h5")]
    assert len(ids) == len(set(ids)) == 40


SLOW_TEACHER = """
import time
from ase.calculators.emt import EMT


class SlowEMT(EMT):
    def calculate(self, *args, **kwargs):
        time.sleep(0.05)
        super().calculate(*args, **kwargs)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL")
def test_killed_while_augmenting_resumes_to_the_same_structures(finished, tmp_path):
    result, _ = finished
    seeds = write_seeds(tmp_path / "seeds.xyz")
    (tmp_path / "slow_teacher.py").write_text(SLOW_TEACHER)
    args = [sys.executable, "-m", "asegen", "distil", "+slow_teacher.SlowEMT()"]
    args += [str(seeds), "--out", "run", *ARGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    augmented = tmp_path / "run" / "data" / "augmented.h5"
    end = time.monotonic() + 120
    while process.poll() is None and not augmented.exists() and time.monotonic() < end:
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before a kill could land"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not (tmp_path / "run" / "data" / "augment.json").exists()
    again = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 0, again.stderr
    made = data.read(augmented)
    reference = data.read(result.out / "data" / "augmented.h5")  # EMT, unbroken
    assert [a.info["id"] for a in made] == [a.info["id"] for a in reference]
    for a, b in zip(made, reference, strict=True):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-10)
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy())


@pytest.mark.parametrize(
    ("teacher", "seeds", "extra", "message"),
    [
        (TEACHER, "missing.xyz", [], "missing.xyz does not exist"),
        (TEACHER, "corrupt.xyz", [], "cannot read structure 0 of corrupt.xyz"),
        ("+ase.calculators.nope.X()", "seeds.xyz", [], "cannot import module"),
        ("emt", "seeds.xyz", [], "names no calculator"),
        (TEACHER, "seeds.xyz", ["--out", "a-file"], "is a file"),
        (TEACHER, "seeds.xyz", ["--set", "model.hiden=8"], "model.hidden_features"),
        (TEACHER, "seeds.xyz", ["--set", "md.steps=0"], "md.steps"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_2(
    tmp_path, monkeypatch, teacher, seeds, extra, message
):
    monkeypatch.chdir(tmp_path)
    write_seeds(tmp_path / "seeds.xyz")
    (tmp_path / "corrupt.xyz").write_text("not a structure\n")
    (tmp_path / "a-file").write_text("")
    out = extra[1] if extra[:1] == ["--out"] else "run"
    rest = extra[2:] if extra[:1] == ["--out"] else extra
    answer = CliRunner().invoke(main, ["distil", teacher, seeds, "--out", out, *rest])
    assert answer.exit_code == 2, answer.output
    lines = answer.output.strip().splitlines()
    assert len(lines) == 1, answer.output
    assert lines[0].startswith("Error: ")
    assert message in lines[0]
    assert not (tmp_path / "run").exists()  # refused before any work


def test_a_rerun_with_other_settings_is_refused(finished, monkeypatch):
    result, seeds = finished
    monkeypatch.chdir(result.out.parent)
    answer = CliRunner().invoke(
        main,
        [
            "distil",
            TEACHER,
            str(seeds),
            "--out",
            "run",
            *ARGS,
            "--set",
            "train.epochs=9",
        ],
    )
    assert answer.exit_code == 2
    assert "train.epochs=3, not 9" in answer.output
    other = result.out.parent / "other.xyz"
    ase.io.write(other, [bulk("Cu", "fcc", a=3.6, cubic=True)])
    answer = CliRunner().invoke(
        main, ["distil", TEACHER, str(other), "--out", "run", *ARGS]
    )
    assert answer.exit_code == 2
    assert "other seeds" in answer.output


def test_split_by_branch_reproduces_the_bundled_pdo_splits():
    """The split moved from scripts/make_pdo.py: same assignment as the bundled set."""
    from pathlib import Path

    from asegen.distil import split_by_branch

    folder = Path(__file__).parents[2] / "examples" / "data" / "pdo"
    images, recorded = [], []
    for name in ("train", "val", "test"):
        for atoms in data.read(folder / f"pdo_{name}.h5"):
            images.append(atoms)
            recorded.append(name)
    order = sorted(
        range(len(images)),
        key=lambda k: tuple(int(x) for x in images[k].info["id"].split("-")),
    )
    images = [images[k] for k in order]
    recorded = [recorded[k] for k in order]
    assert split_by_branch(images, (0.8, 0.1, 0.1), 0) == recorded


def test_md_check_flags_a_run_that_heats_up():
    from ase.calculators.emt import EMT

    from asegen.distil.config import MDSettings
    from asegen.distil.md import nve_check

    cell = bulk("Cu", "fcc", a=3.6, cubic=True)
    calm = nve_check(EMT(), [cell], MDSettings(steps=40))
    assert calm["stable"]
    assert abs(calm["runs"][0]["drift_meV_per_atom"]) < 1.0  # EMT conserves energy
    hot = nve_check(EMT(), [cell], MDSettings(steps=40, temperature=20000))
    assert not hot["stable"]
    assert "temperature" in hot["runs"][0]["reason"]
    assert np.isfinite(hot["runs"][0]["max_temperature_K"])


def test_config_fills_defaults_and_sizes_families(tmp_path):
    from asegen.distil import load_distil_config

    path = tmp_path / "distil.yaml"
    path.write_text("augment:\ntrain: {weights: {stress: 0.0}}\nmd: {steps: 5}\n")
    config = load_distil_config(path, overrides=["structures=100"])
    assert config.augment_settings(7).n_per_structure == 15  # ceil(100 / 7)
    assert config.augment_settings(7).T == 500.0  # the distil default, not 300
    assert config.train["weights"] == {"energy": 1.0, "forces": 1.0, "stress": 0.0}
    assert config.md.steps == 5
    given = load_distil_config(overrides=["augment.n_per_structure=4"])
    assert given.augment_settings(7).n_per_structure == 4
