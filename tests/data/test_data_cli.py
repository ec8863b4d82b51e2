"""``asegen convert`` and ``asegen info`` on extxyz, ASE db, POSCAR folders, HDF5."""

import warnings

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from click.testing import CliRunner

from asegen.cli import main
from asegen.data import read, write


def run(*args):
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.output


def fail(*args):
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_extxyz_round_trip(tmp_path, structures, assert_same_atoms):
    source = tmp_path / "in.extxyz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ASE warns about the nested info dict
        ase.io.write(source, structures)
    expected = ase.io.read(source, ":")
    assert run("convert", source, tmp_path / "s.h5").strip() == (
        f"wrote 3 structures to {tmp_path / 's.h5'}"
    )
    run("convert", tmp_path / "s.h5", tmp_path / "out.extxyz")
    for want, got in zip(
        expected, ase.io.read(tmp_path / "out.extxyz", ":"), strict=True
    ):
        assert_same_atoms(want, got)


def test_ase_db_round_trip(tmp_path, mixed):
    for k, atoms in enumerate(mixed):
        atoms.info.update(label=f"s{k}", numeric_text="12", path=[k, k + 1])
    write(tmp_path / "in.h5", mixed)
    run("convert", tmp_path / "in.h5", tmp_path / "out.db")
    import ase.db

    row = ase.db.connect(tmp_path / "out.db").get(id=4)
    assert row.key_value_pairs == {"index": 3, "label": "s3"}  # ASE-valid keys
    assert set(row.data) == {"numeric_text", "path"}  # the rest
    run("convert", tmp_path / "out.db", tmp_path / "back.h5")
    for expected, actual in zip(mixed, read(tmp_path / "back.h5"), strict=True):
        assert actual.info["label"] == expected.info["label"]
        assert actual.info["numeric_text"] == "12"
        np.testing.assert_array_equal(actual.info["path"], expected.info["path"])
        np.testing.assert_allclose(actual.positions, expected.positions)
        if expected.calc is None:
            assert actual.calc is None
        else:
            assert actual.calc.results.keys() == expected.calc.results.keys()
            assert actual.get_potential_energy() == expected.get_potential_energy()


def test_poscar_folder_round_trip(tmp_path):
    folder = tmp_path / "poscars"
    folder.mkdir()
    for number in (10, 2, 1):  # natural order: 1, 2, 10
        atoms = bulk("Cu", cubic=True) * (1, 1, number)
        ase.io.write(folder / f"POSCAR_{number}", atoms, format="vasp")
    (folder / ".hidden").write_text("not a structure")
    run("convert", folder, tmp_path / "p.h5")
    assert [len(atoms) for atoms in read(tmp_path / "p.h5")] == [4, 8, 40]
    run("convert", tmp_path / "p.h5", f"{tmp_path / 'out'}/")
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == ["000000.poscar", "000001.poscar", "000002.poscar"]
    for expected, name in zip(read(tmp_path / "p.h5"), names, strict=True):
        actual = ase.io.read(tmp_path / "out" / name)
        assert actual.numbers.tolist() == expected.numbers.tolist()
        np.testing.assert_allclose(actual.positions, expected.positions, atol=1e-10)
        np.testing.assert_allclose(actual.cell.array, expected.cell.array, atol=1e-10)


def test_info_reports_counts(tmp_path, mixed):
    mixed[0].new_array("tags", np.arange(len(mixed[0])))
    write(tmp_path / "m.h5", mixed)
    output = run("info", tmp_path / "m.h5")
    assert "structures:  12" in output
    assert "2 to 6 per structure" in output
    assert "labels:      energy 11, forces 7, stress 4" in output
    assert "info keys:   index 12" in output
    assert "arrays:      tags 1" in output
    assert "asegen-structures version 1, written by asegen" in output
    assert "units:       length Å, energy eV" in output
    hydrogens = sum(int((atoms.numbers == 1).sum()) for atoms in mixed)
    assert f"elements:    H {hydrogens}," in output


def test_info_streams_other_formats(tmp_path, mixed):
    ase.io.write(tmp_path / "m.extxyz", mixed)
    output = run("info", tmp_path / "m.extxyz")
    assert "format:      extxyz" in output
    assert "structures:  12" in output
    assert "labels:      energy 11, forces 7, stress 4" in output
    assert "metadata:    none (not an asegen HDF5 file)" in output


def test_append_and_overwrite(tmp_path, mixed):
    ase.io.write(tmp_path / "a.extxyz", mixed[:5])
    target = tmp_path / "out.h5"
    run("convert", tmp_path / "a.extxyz", target)
    message = fail("convert", tmp_path / "a.extxyz", target)
    assert "already exists; pass --overwrite to replace it or --append" in message
    run("convert", tmp_path / "a.extxyz", target, "--append")
    assert len(read(target)) == 10
    run("convert", tmp_path / "a.extxyz", target, "--overwrite")
    assert len(read(target)) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--append"], "--append applies to HDF5 outputs"),
        (["--format", "nonsense"], "cannot write the format 'nonsense'"),
        (["--compression", "gzip"], "--compression applies to HDF5 outputs"),
    ],
)
def test_option_errors(tmp_path, mixed, args, message):
    ase.io.write(tmp_path / "a.extxyz", mixed)
    assert message in fail("convert", tmp_path / "a.extxyz", tmp_path / "b.xyz", *args)


def test_unreadable_input(tmp_path):
    (tmp_path / "notes.txt").write_text("no structures here\n")
    message = fail("convert", tmp_path / "notes.txt", tmp_path / "out.h5")
    assert "notes.txt" in message
    assert "(--input-format)" in message
    assert not (tmp_path / "out.h5").exists()


def test_single_structure_format_needs_a_folder(tmp_path, mixed):
    write(tmp_path / "m.h5", mixed)
    message = fail("convert", tmp_path / "m.h5", tmp_path / "POSCAR")
    assert "give a folder OUT/" in message
    assert not (tmp_path / "POSCAR").exists()


def test_same_input_and_output(tmp_path, mixed):
    write(tmp_path / "m.h5", mixed)
    assert "both input and output" in fail(
        "convert", tmp_path / "m.h5", tmp_path / "m.h5", "--overwrite"
    )


def test_a_warning_is_one_line_on_the_cli(tmp_path, structures):
    source, target = tmp_path / "in.extxyz", tmp_path / "out.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ASE warns about the nested info dict
        ase.io.write(source, structures)
    run("convert", source, target)
    run("convert", source, target, "--append")
    result = CliRunner().invoke(
        main, ["convert", str(source), str(target), "--append"]
    )  # the same source again: nothing appended, one warning
    assert result.exit_code == 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Warning: {source} was appended to "), lines[0]
    assert "UserWarning" not in result.stderr
    assert len(read(target)) == 2 * len(structures)
