"""``kill -9`` of ``asegen augment``: workers end with it, and a rerun resumes exactly.

Each run is a real ``asegen augment`` process, killed at a random moment;
the rerun must give the structures of an uninterrupted run, each once.
"""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import pytest
from augment_helpers import SETTINGS, cu_cell, cu_cluster, run_ok, write_config

from asegen.augment import run_config
from asegen.data import H5Writer
from asegen.data import read as read_h5

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads processes from /proc"
)


def _start(workdir, workers, start_method="fork"):
    """Start ``asegen augment config.yaml -w WORKERS`` with the given start method."""
    code = (
        "import multiprocessing\n"
        "from asegen.augment import parallel\n"
        f"parallel._context = lambda: multiprocessing.get_context({start_method!r})\n"
        "from asegen.cli import main\n"
        f"main(['augment', 'config.yaml', '-w', '{workers}'])\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(ready, process, deadline=60.0):
    """Wait until ``ready()`` is true (or the process has ended)."""
    end = time.monotonic() + deadline
    while process.poll() is None and time.monotonic() < end and not ready():
        time.sleep(0.01)


def _text(path):
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _stat(pid):
    """State and parent pid of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, parent = text.rsplit(")", 1)[1].split()[:2]
    return state, int(parent)


def _children(pid):
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (_stat(entry.name) or (None, None))[1] == pid
    ]


def _running(pid):
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie has ended


def _read(path):
    if path.suffix == ".h5":
        # as the rerun does: a killed writer may leave the chunk it was
        # rewriting failing its checksum until the file is opened for append
        H5Writer(path, append=True).close()
    frames = read_h5(path) if path.suffix == ".h5" else ase.io.read(path, ":")
    ids = [atoms.info["id"] for atoms in frames]
    assert len(ids) == len(set(ids)), "a structure was written twice"
    return dict(zip(ids, frames, strict=True))


_REFERENCES = {}


def _reference(folder, suffix, size):
    """The output of an uninterrupted run (one worker: workers give the same)."""
    if (suffix, size) not in _REFERENCES:
        ase.io.write(folder / "inputs.xyz", [cu_cell(0), cu_cell(1), cu_cluster(2)])
        output = folder / f"straight-{size}{suffix}"
        config = {
            "data": {"input": str(folder / "inputs.xyz"), "output": str(output)},
            "config": {**SETTINGS, "n_per_structure": size, "cell_sigma": 0.02},
            "model": {"calculator": "+ase.calculators.emt.EMT()"},
        }
        run_config(config)
        _REFERENCES[suffix, size] = _read(output)
    return _REFERENCES[suffix, size]


def _assert_same(resumed, straight):
    assert resumed.keys() == straight.keys()
    for key, atoms in straight.items():
        np.testing.assert_array_equal(resumed[key].positions, atoms.positions)
        np.testing.assert_array_equal(resumed[key].cell.array, atoms.cell.array)
        assert resumed[key].get_potential_energy() == atoms.get_potential_energy()


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_killed_run_takes_its_workers_along(workdir, tmp_path_factory, start_method):
    """Workers die with a killed parent; the rerun takes its lock over and resumes."""
    size = 40
    write_config(workdir, n_per_structure=size, cell_sigma=0.02)
    process = _start(workdir, 2, start_method)
    _wait_for(lambda: _text(workdir / "out.xyz"), process)
    workers = _children(process.pid)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL  # killed, not finished
    assert workers  # started before the first structure was written
    deadline = time.monotonic() + 5
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_running, workers)), "worker processes outlived their run"
    lock = workdir / "out.xyz.asegen-lock"
    assert lock.read_text().strip() == str(process.pid)
    output = run_ok("augment", "config.yaml", "--workers", "2")
    assert f"notice: taking over {lock}, left by run {process.pid}" in output
    assert not lock.exists()
    straight = _reference(tmp_path_factory.mktemp("reference"), ".xyz", size)
    _assert_same(_read(workdir / "out.xyz"), straight)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("suffix", [".xyz", ".h5"])
def test_kill_9_at_random_moments_resumes_exactly(
    workdir, tmp_path_factory, suffix, workers
):
    """Three runs killed at random moments, each rerun, then one rerun to the end.

    Every moment falls before the first structure or among the writes: the
    output at the end equals that of an uninterrupted run, each structure once.
    """
    size = 30 if suffix == ".h5" else 60  # so that every kill falls mid-run
    output = workdir / f"out{suffix}"
    write_config(workdir, n_per_structure=size, cell_sigma=0.02, output=output.name)
    lock = workdir / f"{output.name}.asegen-lock"
    moments = random.Random(f"{suffix}{workers}")
    for _ in range(3):
        before = len(_read(output)) if output.exists() else 0
        process = _start(workdir, workers)
        mine = str(process.pid)
        _wait_for(lambda: _text(lock).strip() == mine, process)  # noqa: B023
        time.sleep(moments.uniform(0.0, 0.25))
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL  # killed, not finished
        done = _read(output) if output.exists() else {}
        assert len(done) >= before  # nothing lost, nothing written twice (_read)
    run_config(workdir / "config.yaml", workers=workers)
    straight = _reference(tmp_path_factory.mktemp("reference"), suffix, size)
    _assert_same(_read(output), straight)
    assert not lock.exists()


@pytest.mark.parametrize("cut_in", ["count line", "atoms", "last line"])
def test_an_extxyz_frame_cut_off_by_kill_9_is_made_again(workdir, capsys, cut_in):
    """Cut in its count line, among its atoms, or in its last line."""
    write_config(workdir, n_per_structure=3, cell_sigma=0.02)
    run_config("config.yaml")
    output = workdir / "out.xyz"
    text = output.read_bytes()
    start = text.rindex(b"\n", 0, text.rindex(b"Lattice") - 1) + 1  # its count line
    end = {
        "count line": start + 1,
        "atoms": (start + len(text)) // 2,
        "last line": len(text) - 10,
    }[cut_in]
    output.write_bytes(text[:end])
    capsys.readouterr()
    run_config("config.yaml")
    assert "notice: removing the last structure of out.xyz" in capsys.readouterr().err
    assert output.read_bytes() == text
