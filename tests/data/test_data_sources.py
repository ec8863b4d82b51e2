"""One reader for every command: what a path holds, and the same errors everywhere."""

import json
import shutil
from collections.abc import Iterator

import ase.db
import ase.io
import pytest
from ase.build import bulk
from click.testing import CliRunner

from asegen.augment.io import read_existing, read_inputs
from asegen.cli import main
from asegen.data import (
    H5Dataset,
    H5Writer,
    convert,
    iter_structures,
    read,
    read_structures,
    summarize,
    write,
)
from asegen.errors import DataFormatError, InputNotFoundError


def cu(repeat):
    return bulk("Cu", cubic=True) * (1, 1, repeat)


def poscar_folder(folder):
    """s1, s2, s10.poscar (4, 8, 40 atoms), a hidden file, a subfolder."""
    folder.mkdir()
    for repeat in (10, 2, 1):
        ase.io.write(folder / f"s{repeat}.poscar", cu(repeat), format="vasp")
    (folder / ".hidden").write_text("not a structure")
    (folder / "sub").mkdir()
    (folder / "sub" / "s3.poscar").write_text("not read either")
    return folder


def test_a_plain_folder_is_its_files_in_natural_order(tmp_path):
    folder = poscar_folder(tmp_path / "poscars")
    ase.io.write(folder / "s2b.extxyz", [cu(5), cu(6)])  # two in one file
    images = read_structures(folder)
    assert isinstance(images, list)
    assert [len(atoms) for atoms in images] == [4, 8, 20, 24, 40]
    streamed = iter_structures(folder)
    assert isinstance(streamed, Iterator)  # read as it is consumed
    assert [len(atoms) for atoms in streamed] == [4, 8, 20, 24, 40]
    assert summarize(folder).n_structures == 5
    assert read_inputs(folder)[2].positions.tolist() == cu(5).positions.tolist()


def test_a_folder_with_id_prop_csv_is_an_alignn_training_folder(tmp_path):
    folder = poscar_folder(tmp_path / "alignn")
    (folder / "id_prop.csv").write_text("s10.poscar,-1.5\ns1.poscar,2.5,3.5\n")
    images = read_structures(folder)  # the listed files, in the listed order
    assert [len(atoms) for atoms in images] == [40, 4]
    assert [atoms.info["target"] for atoms in images] == [-1.5, [2.5, 3.5]]
    assert [atoms.info["id"] for atoms in images] == ["s10.poscar", "s1.poscar"]
    assert [len(atoms) for atoms in iter_structures(folder)] == [40, 4]
    summary = summarize(folder)
    assert summary.file_format == "alignn training folder (id_prop.csv)"
    assert summary.n_structures == 2
    assert summary.info == {"id": 2, "target": 2}
    assert convert(folder, tmp_path / "alignn.h5") == 2
    assert read(tmp_path / "alignn.h5", 0).info["target"] == -1.5
    assert len(read_inputs(folder)) == 2


def test_a_folder_with_id_prop_json_is_an_alignn_training_folder(tmp_path):
    folder = tmp_path / "alignn"
    folder.mkdir()
    atoms = cu(1)
    ase.io.write(folder / "POSCAR", cu(3), format="vasp")  # not listed: not read
    record = {
        "jid": "cu-1",
        "atoms": {
            "lattice_mat": atoms.cell.array.tolist(),
            "coords": atoms.positions.tolist(),
            "elements": atoms.get_chemical_symbols(),
            "cartesian": True,
        },
        "energy_per_atom": -3.0,
    }
    (folder / "id_prop.json").write_text(json.dumps([record]))
    (image,) = read_structures(folder)
    assert image.info["id"] == "cu-1"
    assert image.get_potential_energy() == pytest.approx(-12.0)
    assert summarize(folder).file_format == "alignn training folder (id_prop.json)"


def test_hdf5_stays_lazy(tmp_path, mixed, assert_same_atoms):
    write(tmp_path / "m.h5", mixed)
    shutil.copy(tmp_path / "m.h5", tmp_path / "m.data")
    for path in (tmp_path / "m.h5", tmp_path / "m.data"):
        images = read_structures(path)  # told by its name or by its content
        assert isinstance(images, H5Dataset)
        assert len(images) == 12
        assert_same_atoms(mixed[7], images[7])
        assert isinstance(iter_structures(path), H5Dataset)


def test_a_file_is_streamed_and_fails_at_the_structure_it_cannot_read(tmp_path):
    images = iter_structures(_unreadable(tmp_path))  # two good, then a bad one
    assert [len(next(images)), len(next(images))] == [4, 8]
    with pytest.raises(DataFormatError, match=r"cannot read structure 2 of .*bad\.xyz"):
        next(images)


def _missing(tmp_path):
    return tmp_path / "missing.xyz"


def _missing_hdf5(tmp_path):
    return tmp_path / "missing.h5"


def _empty_file(tmp_path):
    (tmp_path / "empty.xyz").write_text("")
    return tmp_path / "empty.xyz"


def _empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_text("3\n\n")
    return tmp_path / "empty"


def _empty_alignn_folder(tmp_path):
    (tmp_path / "alignn").mkdir()
    (tmp_path / "alignn" / "id_prop.json").write_text("[]")
    return tmp_path / "alignn"


def _no_structure_read(tmp_path):
    path = tmp_path / "blank.extxyz"
    path.write_text("\n")  # not empty, and yet no structure
    return path


def _unreadable(tmp_path):
    path = tmp_path / "bad.xyz"
    ase.io.write(path, [cu(1), cu(2)])
    with path.open("a") as handle:
        handle.write("3\nLattice='1 0 0 0 1 0 0 0 1'\nCu 0 0\n")
    return path


def _unreadable_in_a_folder(tmp_path):
    folder = tmp_path / "poscars"
    folder.mkdir()
    ase.io.write(folder / "1.extxyz", cu(1))
    (folder / "2.extxyz").write_text("2\n\nCu 0 0 0\n")
    return folder


def _unknown_format(tmp_path):
    (tmp_path / "notes.txt").write_text("no structures here\n")
    return tmp_path / "notes.txt"


def _unreadable_alignn_listing(tmp_path):
    folder = tmp_path / "alignn"
    folder.mkdir()
    (folder / "bad.extxyz").write_text("2\n\nCu 0 0 0\n")
    (folder / "id_prop.csv").write_text("bad.extxyz,1.0\n")
    return folder


SOURCE_ERRORS = [
    pytest.param(
        _missing,
        InputNotFoundError,
        r"missing\.xyz does not exist; check the path",
        id="missing",
    ),
    pytest.param(
        _missing_hdf5,
        InputNotFoundError,
        r"missing\.h5 does not exist; check the path",
        id="missing-hdf5",
    ),
    pytest.param(
        _empty_file,
        DataFormatError,
        r"empty\.xyz holds no structures \(the file is empty\)",
        id="empty-file",
    ),
    pytest.param(
        _empty_folder,
        DataFormatError,
        r"empty holds no structures \(a folder with no files",
        id="empty-folder",
    ),
    pytest.param(
        _empty_alignn_folder,
        DataFormatError,
        r"id_prop\.json holds no structures \(it lists none\)",
        id="empty-alignn",
    ),
    pytest.param(
        _no_structure_read,
        DataFormatError,
        r"blank\.extxyz holds no structures \(read as extxyz\)",
        id="none-read",
    ),
    pytest.param(
        _unreadable,
        DataFormatError,
        r"cannot read structure 2 of \S*bad\.xyz as extxyz",
        id="unreadable",
    ),
    pytest.param(
        _unreadable_in_a_folder,
        DataFormatError,
        r"cannot read structure 0 of \S*2\.extxyz",
        id="unreadable-in-folder",
    ),
    pytest.param(
        _unknown_format,
        DataFormatError,
        r"cannot read \S*notes\.txt as 'txt'.*--input-format",
        id="unknown-format",
    ),
    pytest.param(
        _unreadable_alignn_listing,
        DataFormatError,
        r"cannot read structure 0 of \S*bad\.extxyz",
        id="unreadable-alignn",
    ),
]

ENTRY_POINTS = {
    "read_structures": read_structures,
    "iter_structures": lambda path: list(iter_structures(path)),
    "summarize": summarize,
    "convert": lambda path: convert(path, path.parent / "out.h5"),
    "augment read_inputs": read_inputs,
}


@pytest.mark.parametrize(("make", "error", "pattern"), SOURCE_ERRORS)
def test_every_entry_point_raises_the_same_one_line_error(
    tmp_path, make, error, pattern
):
    path = make(tmp_path)
    messages = set()
    for name, entry in ENTRY_POINTS.items():
        with pytest.raises(error, match=pattern) as caught:
            entry(path)
        assert "\n" not in str(caught.value), name
        messages.add(str(caught.value))
    (message,) = messages
    assert not (tmp_path / "out.h5").exists()
    for args in (["convert", path, tmp_path / "out.h5"], ["info", path]):
        result = CliRunner().invoke(main, [str(arg) for arg in args])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"Error: {message}"


def test_an_hdf5_file_without_structures(tmp_path):
    path = tmp_path / "none.h5"
    H5Writer(path).close()
    pattern = r"none\.h5 holds no structures \(an asegen HDF5 file with none written\)"
    for entry in (
        "read_structures",
        "iter_structures",
        "convert",
        "augment read_inputs",
    ):
        with pytest.raises(DataFormatError, match=pattern):
            ENTRY_POINTS[entry](path)
    assert summarize(path).n_structures == 0  # `asegen info` describes the file


def test_an_h5_name_means_hdf5_unless_a_format_is_given(tmp_path):
    ase.io.write(tmp_path / "text.h5", cu(1), format="extxyz")
    with pytest.raises(DataFormatError, match=r"is not an HDF5 file; convert it"):
        read_structures(tmp_path / "text.h5")
    assert len(read_structures(tmp_path / "text.h5", format="extxyz")) == 1


@pytest.mark.parametrize(
    ("lines", "error", "pattern"),
    [
        ("missing.vasp,1.0\n", InputNotFoundError, r"line 1 of .* names missing\.vasp"),
        (
            "s1.poscar,1.0\ns2.poscar,high\n",
            DataFormatError,
            r"line 2 of .* not a number",
        ),
    ],
)
def test_alignn_listing_mistakes_are_named(tmp_path, lines, error, pattern):
    folder = poscar_folder(tmp_path / "alignn")
    (folder / "id_prop.csv").write_text(lines)
    with pytest.raises(error, match=pattern):
        read_structures(folder)


@pytest.mark.parametrize("suffix", [".xyz", ".db", ".h5"])
def test_augment_outputs_holding_none_yet_resume_from_nothing(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    if suffix == ".xyz":
        path.write_text("")
    elif suffix == ".db":
        with ase.db.connect(path, type="db", append=True):  # tables, no rows
            pass
    else:
        H5Writer(path).close()
    fmt = {".xyz": "extxyz", ".db": "db", ".h5": "h5"}[suffix]
    assert read_existing(path, fmt) == []
    assert read_existing(tmp_path / f"absent{suffix}", fmt) == []
