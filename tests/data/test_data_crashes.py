"""Killed writers, torn files, corrupt data and permissions: reported or repaired."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import ase.io
import h5py
import numpy as np
import pytest
from ase import Atoms
from click.testing import CliRunner

from asegen.cli import main
from asegen.data import H5Dataset, H5Writer, convert, read, write
from asegen.errors import DataFormatError

MAKE = """
import numpy as np
from ase import Atoms


def make(k):
    n = 1 + k % 4
    atoms = Atoms(
        numbers=[1 + k % 20] * n,
        positions=np.full((n, 3), float(k)),
        cell=np.eye(3) * 5,
        pbc=True,
    )
    atoms.info.update(index=k, tag=f"s{k}" * (1 + k % 7), meta={"k": [k] * (k % 5)})
    return atoms
"""
namespace: dict = {}
exec(MAKE, namespace)  # the same structures as in the child processes
make = namespace["make"]


def _check_sequence(path, count):
    images = read(path)
    assert [atoms.info["index"] for atoms in images] == list(range(count))
    for atoms in images:
        assert_same = make(atoms.info["index"])
        assert atoms.info == assert_same.info
        np.testing.assert_array_equal(atoms.positions, assert_same.positions)


def test_append_after_kill_works_the_first_time(tmp_path):
    """SIGKILL a writer at random moments; the next append must work at once."""
    path = tmp_path / "killed.h5"
    child = MAKE + textwrap.dedent(f"""
        from asegen.data import H5Writer

        with H5Writer({str(path)!r}, append=True) as writer:
            k = len(writer)
            print(k, flush=True)
            while True:
                writer.append(make(k))
                writer.flush()
                k += 1
    """)
    rng = random.Random(7)
    deadline = time.monotonic() + 15
    trials = 0
    while trials < 4 or (trials < 12 and time.monotonic() < deadline):
        trials += 1
        process = subprocess.Popen(
            [sys.executable, "-c", child],
            stdout=subprocess.PIPE,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        process.stdout.readline()  # the file is open and the loop begins
        time.sleep(rng.uniform(0.01, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a mended checksum is announced
            with H5Writer(path, append=True) as writer:
                count = len(writer)
                for k in range(count, count + 3):
                    writer.append(make(k))
                    writer.flush()
        _check_sequence(path, count + 3)


def test_convert_append_killed_resumes_without_duplicates(tmp_path):
    source = tmp_path / "more.extxyz"
    ase.io.write(source, [make(k) for k in range(10, 310)])
    target = tmp_path / "out.h5"
    write(target, [make(k) for k in range(10)])
    child = textwrap.dedent(f"""
        import os
        import signal
        import asegen.data._writer as writer_module
        from asegen.data import convert

        writer_module._MAX_PENDING_STRUCTURES = 40  # commit every 40
        append = writer_module.H5Writer.append
        seen = []

        def append_then_die(self, atoms):
            seen.append(1)
            if len(seen) == 130:
                os.kill(os.getpid(), signal.SIGKILL)
            append(self, atoms)

        writer_module.H5Writer.append = append_then_die
        convert({str(source)!r}, {str(target)!r}, append=True)
    """)
    run = subprocess.run([sys.executable, "-c", child], check=False)
    assert run.returncode == -signal.SIGKILL
    assert len(H5Dataset(target)) == 10 + 120  # three commits of 40 survived
    with pytest.warns(UserWarning, match="continuing the interrupted append"):
        assert convert(source, target, append=True) == 180
    _check_sequence(target, 310)
    with h5py.File(target) as file:
        assert "unfinished_append" not in file.attrs


def test_convert_append_killed_at_random_moments_ends_exact(tmp_path):
    """``kill -9`` a real ``asegen convert --append`` at random moments, rerun.

    Every rerun continues the killed append, or finds it finished (a kill can
    land after the last write) and appends nothing: the file holds the first
    structures and then each source structure once.
    """
    source = tmp_path / "more.extxyz"
    ase.io.write(source, [make(k) for k in range(10, 4010)])
    target = tmp_path / "out.h5"
    write(target, [make(k) for k in range(10)])
    command = [sys.executable, "-m", "asegen", "convert", str(source), str(target),
               "--append"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    moments = random.Random(13)
    kills = 0
    for _ in range(4):
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(moments.uniform(0.1, 1.2))  # start-up included: a kill lands
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
    assert kills, "no kill landed: the append finished too fast for the test"
    for _ in range(2):  # the first finishes what is left, the second finds it done
        final = subprocess.run(command, env=env, capture_output=True, text=True)
        assert final.returncode == 0, final.stderr
    assert "wrote 0 structures" in final.stdout
    assert "appended to" in final.stderr
    _check_sequence(target, 4010)  # complete, in order, no duplicates
    with h5py.File(target) as file:
        assert "unfinished_append" not in file.attrs


def test_convert_append_run_again_after_it_finished_appends_nothing(tmp_path):
    source = tmp_path / "more.extxyz"
    ase.io.write(source, [make(k) for k in range(10, 40)])
    target = tmp_path / "out.h5"
    write(target, [make(k) for k in range(10)])
    assert convert(source, target, append=True) == 30
    with pytest.warns(UserWarning, match=r"appended to .* already \(its structures "
                      r"10 to 39\); nothing appended"):  # fmt: skip
        assert convert(source, target, append=True) == 0
    _check_sequence(target, 40)
    other = tmp_path / "other.extxyz"  # another source is appended as usual
    ase.io.write(other, [make(k) for k in range(40, 45)])
    assert convert(other, target, append=True) == 5
    ase.io.write(source, [make(k) for k in range(45, 47)])  # the source changed
    assert convert(source, target, append=True) == 2
    _check_sequence(target, 47)


def test_convert_append_of_a_folder_is_skipped_until_its_files_change(tmp_path):
    folder = tmp_path / "structures"
    folder.mkdir()
    for k in (10, 11):
        ase.io.write(folder / f"{k}.extxyz", make(k))
    target = tmp_path / "out.h5"
    write(target, [make(k) for k in range(10)])
    assert convert(folder, target, append=True) == 2
    with pytest.warns(UserWarning, match="already"):
        assert convert(folder, target, append=True) == 0
    _check_sequence(target, 12)
    ase.io.write(folder / "12.extxyz", make(12))  # another source now: appended whole
    assert convert(folder, target, append=True) == 3
    assert len(H5Dataset(target)) == 15


KILL_POINTS = {  # where the child kills itself, after its last structure is written
    "before the record": ("finish_append", "True"),
    "between record and note": ("note_append", "args[0] is None"),
    "after convert returned": (None, None),
}
KILLED_CHILD = """\
import os
import signal
import asegen.data._writer as writer_module
from asegen.data import convert
{patch}
convert({source!r}, {target!r}, append=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
DIE_FIRST = """\
original = writer_module.H5Writer.{method}

def die_first(self, *args):
    if {when}:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, *args)

writer_module.H5Writer.{method} = die_first
"""


@pytest.mark.parametrize("point", KILL_POINTS)
def test_convert_append_killed_after_its_last_write_is_not_repeated(tmp_path, point):
    """A run killed once every structure is written is finished by a rerun,
    which appends nothing, however far the kill let it record the end."""
    source = tmp_path / "more.extxyz"
    ase.io.write(source, [make(k) for k in range(10, 110)])
    target = tmp_path / "out.h5"
    write(target, [make(k) for k in range(10)])
    method, when = KILL_POINTS[point]
    patch = "" if method is None else DIE_FIRST.format(method=method, when=when)
    child = KILLED_CHILD.format(patch=patch, source=str(source), target=str(target))
    run = subprocess.run([sys.executable, "-c", child], check=False)
    assert run.returncode == -signal.SIGKILL
    assert len(H5Dataset(target)) == 110  # every structure written
    with pytest.warns(UserWarning, match="already"):
        assert convert(source, target, append=True) == 0
    _check_sequence(target, 110)
    with h5py.File(target) as file:
        assert "unfinished_append" not in file.attrs
        assert len(file["appended"].attrs) == 1


def test_unfinished_append_of_another_source_is_refused(tmp_path):
    target = tmp_path / "out.h5"
    write(target, [make(0)])
    with H5Writer(target, append=True) as writer:
        writer.note_append('{"source": {"path": "/data/a.xyz"}, "start": 1}')
    source = tmp_path / "b.extxyz"
    ase.io.write(source, [make(1)])
    with pytest.raises(DataFormatError, match=r"unfinished append of /data/a\.xyz"):
        convert(source, target, append=True)
    assert len(H5Dataset(target)) == 1


def test_failed_convert_append_is_rolled_back(tmp_path):
    target = tmp_path / "out.h5"
    write(target, [make(0)])
    source = tmp_path / "bad.extxyz"
    bad = Atoms("H2", positions=[[0, 0, 0], [0, np.nan, 0]])
    ase.io.write(source, [make(1), make(2), bad])
    with pytest.raises(ValueError, match="non-finite"):
        convert(source, target, append=True)
    _check_sequence(target, 1)
    with h5py.File(target) as file:
        assert "unfinished_append" not in file.attrs


def test_stale_partial_files_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".partial-{dead.pid}-out.h5"
    live = tmp_path / f".partial-{os.getppid()}-out.h5"
    stale.write_bytes(b"left by a killed run")
    live.write_bytes(b"another run, still going")
    source = tmp_path / "in.extxyz"
    ase.io.write(source, [make(0)])
    with pytest.warns(UserWarning, match=f"removed {stale}.*process {dead.pid}"):
        convert(source, tmp_path / "out.h5")
    assert not stale.exists()
    assert live.exists()


def test_failed_convert_leaves_no_output(tmp_path):
    source = tmp_path / "bad.extxyz"
    ase.io.write(source, [make(0), make(1)])
    with source.open("a") as handle:
        handle.write("3\nnot a comment line\nH 0 0\n")  # a broken third structure
    for target in ("out.h5", "out.extxyz", "poscars/"):
        with pytest.raises(DataFormatError, match="cannot read structure 2"):
            convert(source, f"{tmp_path}/{target}")
    assert sorted(item.name for item in tmp_path.iterdir()) == ["bad.extxyz"]


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.h5"
    write(path, [make(k) for k in range(50)])
    return path


@pytest.mark.parametrize(
    ("name", "row", "value"),
    [("offset", 7, 10_000), ("n_atoms", 3, 500), ("n_atoms", 0, -1)],
)
def test_inconsistent_index_is_reported(good, name, row, value):
    with h5py.File(good, "r+") as file:
        file[f"structures/{name}"][row] = value
    with pytest.raises(DataFormatError, match=r"damaged HDF5 file: structure \d+"):
        read(good)
    result = CliRunner().invoke(main, ["info", str(good)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1


def _garble_chunk(path, name):
    with h5py.File(path) as file:
        info = file[name].id.get_chunk_info(0)
    with path.open("r+b") as handle:
        handle.seek(info.byte_offset + 16)
        handle.write(b"\xff" * 32)


@pytest.mark.parametrize(
    "name", ["atoms/positions", "atoms/numbers", "structures/cell"]
)
def test_garbage_in_a_chunk_is_reported(good, name):
    _garble_chunk(good, name)
    with pytest.raises(DataFormatError, match=f"{good} is a damaged HDF5 file") as err:
        read(good)
    assert "\n" not in str(err.value)
    args = ["convert", str(good), str(good.with_name("x.h5"))]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.startswith("Error: ")
    assert not good.with_name("x.h5").exists()


def test_files_without_checksums_still_read_and_append(tmp_path, monkeypatch):
    create = h5py.Group.create_dataset

    def without_checksum(self, name, **kwargs):
        kwargs["fletcher32"] = False
        return create(self, name, **kwargs)

    path = tmp_path / "old.h5"
    with monkeypatch.context() as patch:
        patch.setattr(h5py.Group, "create_dataset", without_checksum)
        write(path, [make(k) for k in range(5)])
    with h5py.File(path) as file:
        assert not file["atoms/positions"].fletcher32
    write(path, [make(k) for k in range(5, 8)], append=True)
    _check_sequence(path, 8)


def _deny(monkeypatch, path):
    """Make ``path`` unreadable and unwritable: chmod, or, as root, a patched open."""
    if os.geteuid() != 0:
        path.chmod(0)
        return
    from pathlib import Path

    open_path = Path.open

    def denied(self, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return open_path(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)


def test_unreadable_input_names_the_permission(good, monkeypatch):
    _deny(monkeypatch, good)
    for action in (read, H5Dataset, lambda p: H5Writer(p, append=True)):
        with pytest.raises(DataFormatError, match=f"{good}: permission denied") as err:
            action(good)
        assert "damaged" not in str(err.value)


def test_read_only_output_folder_names_the_permission(tmp_path, monkeypatch, good):
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
    else:
        import asegen.data._writer as writer_module

        def denied(path, mode):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(writer_module, "open_hdf5", denied)
    with pytest.raises(DataFormatError, match="permission denied") as err:
        convert(good, folder / "out.h5")
    assert "damaged" not in str(err.value)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("dataset", ["structures/n_atoms", "atoms/positions"])
def test_a_torn_last_chunk_is_mended_on_append(tmp_path, dataset):
    """A kill during a flush can leave the last chunk's new rows out of step with
    its checksum; the committed rows are intact, and the atom counts, read
    before anything else, must be mended too."""
    import h5py

    path = tmp_path / "torn.h5"
    write(path, [make(k) for k in range(5)])
    with h5py.File(path, "r+") as file:
        data = file[dataset]
        data.resize(data.shape[0] + 1, axis=0)  # a row the killed flush began
        coord = (0,) * data.ndim
        mask, raw = data.id.read_direct_chunk(coord)
        torn = bytearray(raw)
        torn[-5] ^= 0xFF  # a byte of the uncommitted row, checksum left as it was
        data.id.write_direct_chunk(coord, bytes(torn), mask)
    with h5py.File(path, "r") as file, pytest.raises(OSError, match="filter"):
        file[dataset][:]  # the torn chunk fails its checksum
    with pytest.warns(UserWarning, match="rewrote the checksum"):
        writer = H5Writer(path, append=True)
    with writer:
        assert len(writer) == 5
        writer.append(make(5))
    _check_sequence(path, 6)
