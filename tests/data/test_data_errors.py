"""Every user mistake ends with one clear line: the exception, and exit code 2."""

import re

import ase.io
import h5py
import numpy as np
import pytest
from ase import Atoms
from click.testing import CliRunner

from asegen.cli import main
from asegen.data import H5Dataset, read, write
from asegen.errors import DataFormatError, InputNotFoundError, StructureError


def _missing(tmp_path, good):
    return tmp_path / "missing.h5"


def _extxyz(tmp_path, good):
    path = tmp_path / "renamed.h5"  # extxyz text under an HDF5 name
    ase.io.write(path, read(good), format="extxyz")
    return path


def _truncated(tmp_path, good):
    path = tmp_path / "truncated.h5"
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt(tmp_path, good):
    path = tmp_path / "corrupt.h5"
    data = bytearray(good.read_bytes())
    data[8:64] = bytes(56)  # the superblock after the signature
    path.write_bytes(bytes(data))
    return path


def _other_version(tmp_path, good):
    path = tmp_path / "future.h5"
    path.write_bytes(good.read_bytes())
    with h5py.File(path, "r+") as file:
        file.attrs["format_version"] = 2
    return path


def _foreign_hdf5(tmp_path, good):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as file:
        file["data"] = np.arange(3)
    return path


READ_ERRORS = [
    pytest.param(_missing, InputNotFoundError, "does not exist", id="missing"),
    pytest.param(
        _extxyz, DataFormatError, "is not an HDF5 file; convert", id="not-hdf5"
    ),
    pytest.param(_truncated, DataFormatError, "damaged HDF5 file", id="truncated"),
    pytest.param(_corrupt, DataFormatError, "damaged HDF5 file", id="corrupt"),
    pytest.param(
        _other_version,
        DataFormatError,
        "format version 2 .* upgrade asegen",
        id="version",
    ),
    pytest.param(
        _foreign_hdf5, DataFormatError, "not an asegen structure file", id="foreign"
    ),
]


@pytest.fixture
def good(tmp_path, mixed):
    path = tmp_path / "good.h5"
    write(path, mixed * 10)
    return path


def assert_one_error_line(result, pattern):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize(("make", "error", "pattern"), READ_ERRORS)
def test_reading_bad_files(tmp_path, good, make, error, pattern):
    path = make(tmp_path, good)
    for open_it in (read, H5Dataset):
        with pytest.raises(error, match=pattern) as caught:
            open_it(path)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("make", "error", "pattern"), READ_ERRORS)
def test_reading_bad_files_on_the_command_line(tmp_path, good, make, error, pattern):
    path = make(tmp_path, good)
    if make is _extxyz:  # `asegen info` reads any ASE file; appending needs HDF5
        args = ["convert", str(good), str(path), "--append"]
    else:
        args = ["info", str(path)]
    assert_one_error_line(CliRunner().invoke(main, args), pattern)


def test_rows_that_were_never_written(tmp_path):
    path = tmp_path / "holes.h5"
    write(path, Atoms("H", cell=np.eye(3), pbc=True))
    with h5py.File(path, "r+") as file:  # structure 1 points at atoms never written
        for name in ("n_atoms", "offset", "cell", "pbc"):
            file[f"structures/{name}"].resize(2, axis=0)
        file["structures/n_atoms"][1] = 100_001
        file["structures/offset"][1] = 1
        for name in ("numbers", "positions"):
            file[f"atoms/{name}"].resize(100_002, axis=0)
        file.attrs["n_structures"] = 2
    dataset = H5Dataset(path)
    assert len(dataset[0]) == 1
    with pytest.raises(DataFormatError, match=r"damaged HDF5 file .* never written"):
        dataset[1]


STRUCTURE_ERRORS = [
    pytest.param(
        Atoms("H2", positions=[[0, 0, 0], [0, np.nan, 0]]),
        "structure 1 has a non-finite position",
        id="nan",
    ),
    pytest.param(
        Atoms("H", cell=[[2, 0, 0], [0, 2, 0], [0, 0, 0]], pbc=True),
        "structure 1 is periodic along xyz but its cell has zero volume",
        id="zero-volume",
    ),
]


@pytest.mark.parametrize(("bad", "pattern"), STRUCTURE_ERRORS)
def test_bad_structures(tmp_path, bad, pattern):
    with pytest.raises(StructureError, match=pattern):
        write(tmp_path / "out.h5", [Atoms("H"), bad])
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize(("bad", "pattern"), STRUCTURE_ERRORS)
def test_bad_structures_on_the_command_line(tmp_path, bad, pattern):
    source = tmp_path / "in.extxyz"
    ase.io.write(source, [Atoms("H", cell=np.eye(3), pbc=True), bad])
    result = CliRunner().invoke(
        main, ["convert", str(source), str(tmp_path / "out.h5")]
    )
    assert_one_error_line(result, pattern)
    assert not (tmp_path / "out.h5").exists()
