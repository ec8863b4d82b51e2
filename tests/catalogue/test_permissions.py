"""Files this user may not read or write: one line naming the path, nothing changed.

As root, ``chmod`` restricts nothing: the unreadable-input cases then deny the
opening of the file in this process instead (``open`` and h5py's file opener
raise ``PermissionError`` as the system would), and the read-only output cases,
which would need the system's refusal of a write, are skipped.
"""

import builtins
import errno
import io
import os
import stat

import h5py
import pytest
from catalogue_helpers import refused
from conftest import write_yaml

ROOT = os.geteuid() == 0


@pytest.fixture
def unreadable(monkeypatch):
    """Return a function that makes a file unreadable (chmod, or denied as root)."""
    denied = set()

    def deny(path):
        if not ROOT:
            path.chmod(0)
            return
        denied.add(os.path.abspath(path))

    def guarded(opener):
        def open_unless_denied(file, *args, **kwargs):
            if isinstance(file, str | os.PathLike) and (
                os.path.abspath(file) in denied
            ):
                raise PermissionError(errno.EACCES, "Permission denied", str(file))
            return opener(file, *args, **kwargs)

        return open_unless_denied

    if ROOT:
        monkeypatch.setattr(builtins, "open", guarded(builtins.open))
        monkeypatch.setattr(io, "open", guarded(io.open))
        files = h5py._hl.files
        monkeypatch.setattr(files, "make_fid", guarded(files.make_fid))
    return deny


def _augment_on(work, name):
    write_yaml(work / "augment.yaml", {
        "data": {"input": name, "output": "out.xyz"},
        "config": {"n_per_structure": 2, "T": 300, "beta": 0.5, "units": "eV",
                   "sigma_range": [0.01, 0.05], "seed": 1},
        "model": {"calculator": "+ase.calculators.emt.EMT()"},
    })  # fmt: skip
    return ["augment", "augment.yaml"]


INPUTS = [
    ("data.xyz", lambda work: ["info", "data.xyz"]),
    ("data.h5", lambda work: ["info", "data.h5"]),
    ("data.xyz", lambda work: ["convert", "data.xyz", "out.h5"]),
    ("data.h5", lambda work: ["convert", "data.h5", "out.xyz"]),
    ("data.xyz", lambda work: ["train", "alignn", "alignn.yaml", "--data",
                               "data.xyz", "--out", "logs"]),
    ("data.h5", lambda work: ["train", "alignn", "alignn.yaml", "--data",
                              "data.h5", "--out", "logs"]),
    ("alignn.yaml", lambda work: ["train", "alignn", "alignn.yaml", "--data",
                                  "data.xyz", "--out", "logs"]),
    ("augment.yaml", lambda work: ["augment", "augment.yaml"]),
    ("data.xyz", lambda work: _augment_on(work, "data.xyz")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "command"), INPUTS, ids=[f"{n}-{k}" for k, (n, _) in enumerate(INPUTS)]
)
def test_an_unreadable_input_is_one_line_naming_it(work, unreadable, name, command):
    args = command(work)
    unreadable(work / name)
    line = refused(args, name)
    assert "permission denied" in line.lower()


needs_a_user = pytest.mark.skipif(
    ROOT, reason="as root chmod restricts nothing, so no write is refused"
)


@needs_a_user
@pytest.mark.parametrize(
    "args",
    [["convert", "data.xyz", "locked/out.h5"],
     ["convert", "data.xyz", "locked/out.xyz"],
     ["train", "alignn", "alignn.yaml", "--data", "data.xyz", "--out", "locked"]],
)  # fmt: skip
def test_a_read_only_output_folder_is_one_line_naming_it(work, args):
    (work / "locked").mkdir()
    (work / "locked").chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        line = refused(args, "locked")
        assert "permission denied" in line.lower()
    finally:
        (work / "locked").chmod(stat.S_IRWXU)


@needs_a_user
@pytest.mark.parametrize("target", ["data.h5", "out.xyz"])
def test_a_read_only_output_file_is_one_line_naming_it(work, target):
    (work / "out.xyz").write_text("")
    (work / target).chmod(stat.S_IRUSR)
    try:
        line = refused(["convert", "data.xyz", target, "--overwrite"], target)
        assert "permission denied" in line.lower()
    finally:
        (work / target).chmod(stat.S_IRUSR | stat.S_IWUSR)
