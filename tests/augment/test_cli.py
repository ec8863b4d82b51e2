"""``asegen augment CONFIG``: anchor configs, outputs, resume, errors, workers."""

import fcntl
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import ase.db
import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from augment_helpers import (
    SETTINGS,
    BatchEMT,
    InterruptingEMT,
    ThreadsEMT,
    cu_cell,
    run_fail,
    run_ok,
    write_config,
)

from asegen.augment import Augmenter, parallel, run_config
from asegen.augment.io import output_lock
from asegen.data import read as read_h5
from asegen.errors import ConfigError, StructureError

DATA = Path(__file__).parent / "data"

ANCHOR_CONFIG = """\
data:
  input: inputs.xyz
  output: out.xyz
config:
  n_per_structure: 5
  T: 300
  beta: 0.5
  sigma_range: [0.01, 0.1]
  seed: 42
  cell_sigma: 0.02
  units: eV
  max_force: 30
  min_separation: 0.5
  max_relax_steps: 20
  similarity_threshold: 0.1
model:
  calculator: +ase.calculators.emt.EMT()
"""


def test_an_anchor_config_runs_unchanged(workdir):
    (workdir / "config.yaml").write_text(ANCHOR_CONFIG)
    output = run_ok("augment", "config.yaml")
    assert output.startswith("augment: 15 structures (3 seeds, 12 new); rejected: ")
    assert "force 0, separation 0;" in output
    assert output.strip().endswith(" s")
    assert "calculator calls; " in output
    out = ase.io.read(workdir / "out.xyz", ":")
    assert [a.info["starting-structure"] for a in out] == [0] * 5 + [1] * 5 + [2] * 5
    assert out[0].info["parent"] == "root"  # D4: the anchor's None read back as True
    assert out[1].info["id"] == "0-1"  # D9: not a uuid
    assert out[0].get_stress().shape == (6,)  # D7


def test_output_is_reproducible_byte_for_byte(workdir):
    write_config(workdir, cell_sigma=0.02)
    run_ok("augment", "config.yaml")
    first = (workdir / "out.xyz").read_bytes()
    (workdir / "out.xyz").unlink()
    run_ok("augment", "config.yaml")
    assert (workdir / "out.xyz").read_bytes() == first


def test_rerun_tops_up_and_then_does_nothing(workdir):
    """D5: the anchor added n_per_structure more on every rerun."""
    write_config(workdir, n_per_structure=3)
    run_ok("augment", "config.yaml")
    run_ok("augment", "config.yaml", "--set", "config.n_per_structure=5")
    grown = ase.io.read(workdir / "out.xyz", ":")
    before = (workdir / "out.xyz").read_bytes()
    output = run_ok("augment", "config.yaml", "--set", "config.n_per_structure=5")
    assert output.strip() == "augment: nothing to do; every family is already complete"
    assert (workdir / "out.xyz").read_bytes() == before
    write_config(workdir, output="straight.xyz", name="straight.yaml")
    run_ok("augment", "straight.yaml")
    straight = {a.info["id"]: a for a in ase.io.read(workdir / "straight.xyz", ":")}
    assert sorted(a.info["id"] for a in grown) == sorted(straight)
    for atoms in grown:
        np.testing.assert_array_equal(
            atoms.positions, straight[atoms.info["id"]].positions
        )


@pytest.mark.parametrize("suffix", [".xyz", ".h5", ".db"])
def test_interrupted_run_resumes_to_the_uninterrupted_output(workdir, suffix):
    """D5: a valid file after Ctrl-C; the rerun writes exactly what is missing."""
    config = {
        "data": {"input": "inputs.xyz", "output": f"out{suffix}"},
        "config": {**SETTINGS, "cell_sigma": 0.02},
        "model": {"calculator": InterruptingEMT(at=12)},
    }
    with pytest.raises(KeyboardInterrupt):
        run_config(config)
    done = _read(workdir / f"out{suffix}")
    assert 0 < len(done) < 15
    config["model"]["calculator"] = EMT()
    stats = run_config(config)
    assert stats.structures == 15 - len(done)
    config["data"]["output"] = f"straight{suffix}"
    run_config(config)
    resumed, straight = (
        _read(workdir / f"out{suffix}"),
        _read(workdir / f"straight{suffix}"),
    )
    assert [a.info["id"] for a in resumed] == [a.info["id"] for a in straight]
    for mine, theirs in zip(resumed, straight, strict=True):
        np.testing.assert_array_equal(mine.positions, theirs.positions)
        np.testing.assert_array_equal(mine.cell.array, theirs.cell.array)
        assert mine.get_potential_energy() == theirs.get_potential_energy()
        assert mine.info["parent"] == theirs.info["parent"]


def _read(path):
    if path.suffix == ".h5":
        return read_h5(path)
    if path.suffix == ".db":
        frames = []
        for row in ase.db.connect(path).select():
            atoms = row.toatoms()
            atoms.info.update(row.key_value_pairs)
            atoms.info["id"] = atoms.info.pop("structure_id")
            frames.append(atoms)
        return frames
    return ase.io.read(path, ":")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_ctrl_c_with_workers_leaves_a_file_that_resumes(workdir, stop):
    """A real SIGINT (Ctrl-C) or SIGTERM (kill) to ``asegen augment --workers 2``."""
    write_config(workdir, n_per_structure=400, cell_sigma=0.02)
    command = [sys.executable, "-m", "asegen", "augment", "config.yaml", "-w", "2"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    output = workdir / "out.xyz"
    deadline = time.time() + 60
    while (
        time.time() < deadline
        and process.poll() is None
        and (not output.exists() or output.read_text().count("Properties") < 10)
    ):
        time.sleep(0.05)
    process.send_signal(stop)
    log, _ = process.communicate(timeout=30)
    assert process.returncode == 128 + stop, log
    assert "interrupted; rerun the same command to resume" in log
    assert not (workdir / "out.xyz.asegen-lock").exists()
    done = ase.io.read(output, ":")
    sizes = Counter(a.info["starting-structure"] for a in done)
    for start, size in sizes.items():  # each family: slots 0..size-1, once each
        ids = [a.info["id"] for a in done if a.info["starting-structure"] == start]
        assert ids == [f"{start}-{k}" for k in range(size)]
    target = max(sizes.values()) + 2
    run_ok("augment", "config.yaml", "--set", f"config.n_per_structure={target}")
    write_config(workdir, n_per_structure=target, cell_sigma=0.02, output="all.xyz")
    run_ok("augment", "config.yaml")
    resumed = {a.info["id"]: a for a in ase.io.read(output, ":")}
    straight = ase.io.read(workdir / "all.xyz", ":")
    assert len(resumed) == len(straight) == 3 * target
    for atoms in straight:
        np.testing.assert_array_equal(
            resumed[atoms.info["id"]].positions, atoms.positions
        )


def test_a_second_run_on_the_same_output_is_refused(workdir):
    write_config(workdir)
    with output_lock(workdir / "out.xyz"):
        line = run_fail("augment", "config.yaml")
    assert "another run is writing out.xyz" in line
    assert f"process {os.getpid()} holds" in line
    assert not (workdir / "out.xyz").exists()


@pytest.mark.parametrize("target_exists", [True, False])
def test_a_symlink_to_the_output_shares_its_lock(workdir, target_exists):
    if target_exists:
        (workdir / "out.xyz").write_text("")
    (workdir / "link.xyz").symlink_to("out.xyz")
    write_config(workdir, output="link.xyz")
    with output_lock(workdir / "out.xyz"):
        line = run_fail("augment", "config.yaml")
    assert "another run is writing link.xyz" in line
    with output_lock(workdir / "link.xyz"):
        write_config(workdir, output="out.xyz", name="direct.yaml")
        line = run_fail("augment", "direct.yaml")
    assert "another run is writing out.xyz" in line
    run_ok("augment", "config.yaml")
    assert (workdir / "link.xyz").is_symlink()
    assert len(ase.io.read(workdir / "out.xyz", ":")) == 15
    assert sorted(p.name for p in workdir.iterdir()) == [
        "config.yaml",
        "direct.yaml",
        "inputs.xyz",
        "link.xyz",
        "out.xyz",
    ]


def _ended_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_lock_left_by_a_killed_run_is_taken_over_with_a_notice(workdir):
    write_config(workdir, n_per_structure=2)
    pid = _ended_pid()
    lock = workdir / "out.xyz.asegen-lock"
    lock.write_text(f"{pid}\n")
    output = run_ok("augment", "config.yaml")
    assert f"notice: taking over {lock}, left by run {pid}" in output
    assert not lock.exists()
    assert len(ase.io.read(workdir / "out.xyz", ":")) == 6


def test_a_lock_kept_by_a_process_of_an_ended_run_names_both(workdir):
    """E.g. a worker of a run killed before workers died with their run."""
    write_config(workdir)
    pid = _ended_pid()
    lock = workdir / "out.xyz.asegen-lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(f"{pid}\n")
        handle.flush()
        line = run_fail("augment", "config.yaml")
    assert f"holds {lock}, started by run {pid}, which has ended" in line
    assert f"fuser -v {lock}" in line


def test_a_forked_process_does_not_keep_the_lock(tmp_path):
    """A forked child (a worker) that outlives the run does not keep reruns out."""
    context = multiprocessing.get_context("fork")
    with output_lock(tmp_path / "out.xyz"):
        child = context.Process(target=time.sleep, args=(60,), daemon=True)
        child.start()
    try:
        with output_lock(tmp_path / "out.xyz"):
            assert child.is_alive()
    finally:
        child.kill()
        child.join()


@pytest.mark.parametrize("suffix", [".xyz", ".h5", ".db"])
@pytest.mark.parametrize(
    ("structure", "message"),
    [
        (
            bulk("Si"),
            "the calculator EMT failed on starting structure 1 of bad.xyz with "
            "NotImplementedError: No EMT-potential for Si; use a calculator made "
            "for these elements, or remove the structure",
        ),
        (
            Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 0.3]]),
            "starting structure 1 of bad.xyz has atoms 0 and 1 0.3 Å apart, closer "
            "than min_separation (0.5 Å); fix the structure or lower min_separation",
        ),
    ],
    ids=["EMT given Si", "overlapping atoms"],
)
def test_a_failing_command_leaves_no_output(
    tmp_path, monkeypatch, suffix, structure, message
):
    """Caught before anything is written, even after a good starting structure."""
    monkeypatch.chdir(tmp_path)
    ase.io.write(tmp_path / "bad.xyz", [cu_cell(0), structure])
    config = write_config(tmp_path, output=f"out{suffix}")
    config.write_text(config.read_text().replace("inputs.xyz", "bad.xyz"))
    assert run_fail("augment", "config.yaml") == f"Error: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.xyz", "config.yaml"]


class FailingEMT(EMT):
    """EMT that fails on structure ``1-2``, as a calculator can on a bad geometry."""

    def calculate(self, atoms=None, *args, **kwargs):
        if atoms is not None and atoms.info.get("id") == "1-2":
            raise ValueError("no potential here\nsecond line of the message")
        super().calculate(atoms, *args, **kwargs)


class FailingBatchEMT(BatchEMT):
    def calculate_batch(self, images, *, batch_size=32):
        if any(atoms.info.get("id") == "1-2" for atoms in images):
            raise ValueError("no potential here")
        return super().calculate_batch(images, batch_size=batch_size)


@pytest.mark.parametrize(
    ("calculator", "workers", "named"),
    [
        (FailingEMT, 1, "structure 1-2 (starting structure 1)"),
        (FailingEMT, 2, "structure 1-2 (starting structure 1)"),
        (FailingBatchEMT, 1, "a batch of the structures 0-2, 1-2"),
    ],
    ids=["one", "workers", "batch"],
)
def test_a_calculator_failing_mid_run_is_one_line(workdir, calculator, workers, named):
    """The structure, the calculator and its message; what was finished is kept."""
    config = {
        "data": {"input": "inputs.xyz", "output": "out.xyz"},
        "config": SETTINGS,
        "model": {"calculator": calculator()},
    }
    with pytest.raises(StructureError) as error:
        run_config(config, workers=workers, batch_size=2)
    assert str(error.value) == (
        f"the calculator {calculator.__name__} failed on {named} with ValueError: no "
        "potential here; fix the calculator or the input, then rerun the command to "
        "resume"
    )
    done = [a.info["id"] for a in ase.io.read(workdir / "out.xyz", ":")]
    assert {"1-0", "1-1"} <= set(done)
    assert "1-2" not in done
    config["model"]["calculator"] = EMT()
    run_config(config)
    resumed = [a.info["id"] for a in ase.io.read(workdir / "out.xyz", ":")]
    assert sorted(resumed) == [f"{i}-{k}" for i in range(3) for k in range(5)]


def test_db_output_uses_keys_the_database_accepts(workdir):
    write_config(workdir, output="out.db", n_per_structure=2)
    run_ok("augment", "config.yaml")
    row = ase.db.connect(workdir / "out.db").get(id=2)
    assert row.starting_structure == 0
    assert row.structure_id == "0-1"
    assert row.parent == "0-0"
    assert row.stress.shape == (6,)


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_workers_give_the_same_file(workdir, monkeypatch, start_method):
    context = multiprocessing.get_context(start_method)
    monkeypatch.setattr(parallel, "_context", lambda: context)
    write_config(workdir, cell_sigma=0.02)
    run_ok("augment", "config.yaml")
    write_config(workdir, cell_sigma=0.02, output="parallel.xyz", name="parallel.yaml")
    run_ok("augment", "parallel.yaml", "--workers", "2")
    assert (workdir / "parallel.xyz").read_bytes() == (workdir / "out.xyz").read_bytes()


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
@pytest.mark.parametrize("preset", [None, "3"])
def test_workers_share_the_cores(tmp_path, monkeypatch, start_method, preset):
    """Two workers get half the cores each as threads; a value the user set wins."""
    context = multiprocessing.get_context(start_method)
    monkeypatch.setattr(parallel, "_context", lambda: context)
    if preset is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", preset)
    log = tmp_path / "threads.log"
    augmenter = Augmenter(ThreadsEMT(log), workers=2, n_per_structure=2)
    assert len(list(augmenter.run([cu_cell(0), cu_cell(1)]))) == 4
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert set(log.read_text().split()) == {preset or share}
    assert os.environ.get("OMP_NUM_THREADS") == preset  # the main process: as it was


class UnpicklableEMT(EMT):
    def __reduce__(self):
        raise TypeError("cannot pickle this calculator")


def test_a_calculator_spawned_workers_cannot_get_is_one_line(monkeypatch):
    monkeypatch.setattr(
        parallel, "_context", lambda: multiprocessing.get_context("spawn")
    )
    augmenter = Augmenter(UnpicklableEMT(), workers=2, n_per_structure=2)
    with pytest.raises(ConfigError, match="cannot be sent to worker processes"):
        list(augmenter.run([cu_cell(0), cu_cell(1)]))


def test_anchor_output_is_resumed(tmp_path, monkeypatch):
    """Spec 7.3: uuid ids, the seed's parent=True, labels in the file are read."""
    shutil.copy(DATA / "anchor_inputs.xyz", tmp_path / "inputs.xyz")
    shutil.copy(DATA / "anchor_emt.xyz", tmp_path / "out.xyz")
    monkeypatch.chdir(tmp_path)
    before = (tmp_path / "out.xyz").read_bytes()
    write_config(tmp_path, n_per_structure=8, seed=7)
    run_ok("augment", "config.yaml")
    assert (tmp_path / "out.xyz").read_bytes().startswith(before)
    out = ase.io.read(tmp_path / "out.xyz", ":")
    new = out[12:]
    assert [a.info["id"] for a in new] == ["0-6", "0-7", "1-6", "1-7"]
    known = {a.info["id"] for a in out}
    assert all(a.info["parent"] in known for a in new)


BAD = [
    ({"config.extra": 1}, "unknown config key 'config.extra'"),
    ({"config.betta": 1}, "did you mean 'config.beta'"),
    ({"model.calculator": "+nowhere.calc()"}, "cannot import module 'nowhere'"),
    ({"model.calculator": "+ase.atoms.Atoms()"}, "gave a Atoms, not an ASE calculator"),
    ({"config.sigma_range": [0.1, 0.01]}, "0 < low ≤ high"),
    ({"config.T": -1}, "T must be above 0 K"),
    ({"config.beta": 2}, "beta must lie in [0, 1]"),
    ({"config.T": ".nan"}, "T must be"),
    ({"config.similarity_threshold": ".nan"}, "similarity_threshold must be"),
    ({"config.cell_sigma": ".nan"}, "cell_sigma must be"),
    ({"config.max_force": ".inf"}, "max_force must be"),
    ({"config.T": "warm"}, "T must be a number, got 'warm'"),
    ({"data.input": "missing.xyz"}, "missing.xyz does not exist; check the path"),
    ({"data.input": "empty.xyz"}, "empty.xyz holds no structures"),
    ({"data.input": "garbage.xyz"}, "cannot read structure 0 of garbage.xyz"),
    ({"data.input": "other.xyz"}, "does not have the atoms of starting structure 0"),
    ({"data.output": "out.traj"}, "name it .xyz, .extxyz, .db or .h5"),
    ({"data.output": "nofolder/out.xyz"}, "does not exist; create it first"),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_line_and_leaves_the_output_alone(workdir, override, message):
    """D14: one ``Error:`` line, exit code 2, the output byte for byte as it was."""
    write_config(workdir, n_per_structure=2)
    run_ok("augment", "config.yaml")
    before = (workdir / "out.xyz").read_bytes()
    (workdir / "empty.xyz").write_text("")
    (workdir / "garbage.xyz").write_text("3\nnot a comment\nCu 0 0\n")
    ase.io.write(workdir / "other.xyz", cu_cell(0, repeat=(1, 1, 1)))
    ((key, value),) = override.items()
    line = run_fail("augment", "config.yaml", "--set", f"{key}={value}")
    assert message in line
    assert (workdir / "out.xyz").read_bytes() == before
    assert not (workdir / "out.traj").exists()
