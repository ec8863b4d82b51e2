"""Bad files as inputs and outputs of every command and of the Python readers."""

import h5py
import pytest
from catalogue_helpers import accepted, api_refused, refused
from conftest import structures, write_yaml

from asegen.data import H5Dataset, read_structures


def _truncated(work, name):
    data = (work / "data.h5").read_bytes()
    (work / name).write_bytes(data[: len(data) // 2])


def _foreign_h5(work, name):
    with h5py.File(work / name, "w") as file:
        file["numbers"] = [1, 2, 3]


def _torn_xyz(work, name):
    text = (work / "data.xyz").read_text()
    (work / name).write_text(text[: len(text) * 2 // 3])


BAD_INPUTS = {
    "missing": ("missing.xyz", lambda work, name: None),
    "empty folder": ("folder", lambda work, name: (work / name).mkdir()),
    "empty xyz": ("empty.xyz", lambda work, name: (work / name).write_text("")),
    "empty h5": ("empty.h5", lambda work, name: (work / name).write_bytes(b"")),
    "truncated h5": ("cut.h5", _truncated),
    "garbage h5": ("junk.h5", lambda w, n: (w / n).write_bytes(b"\x89HDF junk" * 50)),
    "garbage xyz": ("junk.xyz", lambda w, n: (w / n).write_text("3\nno\nfoo bar\n")),
    "torn xyz": ("torn.xyz", _torn_xyz),
    "unknown suffix": ("data.foo", lambda w, n: (w / n).write_text("what is this")),
    "foreign h5": ("foreign.h5", _foreign_h5),
    "binary xyz": ("bin.xyz", lambda w, n: (w / n).write_bytes(b"\xff\xfe\x00" * 40)),
}


def _augment_on(work, name):
    write_yaml(work / "augment.yaml", {**_augment(work), "data": {
        "input": name, "output": "out.xyz"}})  # fmt: skip
    return ["augment", "augment.yaml"]


def _augment(work):
    import yaml

    return yaml.safe_load((work / "augment.yaml").read_text())


COMMANDS = {
    "info": lambda work, name: ["info", name],
    "convert": lambda work, name: ["convert", name, "out.h5"],
    "train": lambda work, name: ["train", "alignn", "alignn.yaml", "--data", name,
                                 "--out", "logs"],
    "train --val": lambda work, name: ["train", "alignn", "alignn.yaml", "--data",
                                       "data.xyz", "--val", name, "--out", "logs"],
    "augment": _augment_on,
}  # fmt: skip


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_a_bad_input_file_is_one_line_naming_it(work, command, kind):
    name, make = BAD_INPUTS[kind]
    make(work, name)
    refused(COMMANDS[command](work, name), name)


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_read_structures_refuses_a_bad_file_naming_it(work, kind):
    name, make = BAD_INPUTS[kind]
    make(work, name)
    api_refused(lambda: read_structures(name), name)


H5_KINDS = ["missing", "empty h5", "truncated h5", "garbage h5", "foreign h5",
            "garbage xyz"]  # fmt: skip


@pytest.mark.parametrize("kind", H5_KINDS)
def test_h5dataset_refuses_a_bad_file_naming_it(work, kind):
    name, make = BAD_INPUTS[kind]
    make(work, name)
    api_refused(lambda: H5Dataset(name), name)


OUTPUTS = [
    (["convert", "data.xyz", "no_such_folder/deeper/out.h5"], ["no_such_folder"]),
    (["convert", "data.xyz", "data.h5"], ["data.h5", "--overwrite"]),
    (["convert", "data.h5", "data.xyz"], ["data.xyz", "--overwrite"]),
    (["convert", "data.xyz", "alignn.yaml", "--append"], ["alignn.yaml"]),
    (["convert", "data.xyz", "out.foo"], ["out.foo"]),
    (["train", "alignn", "alignn.yaml", "--data", "data.xyz", "--out", "data.xyz"],
     ["data.xyz"]),
    (["export", "run", "model.pt"], ["run"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "names"), OUTPUTS, ids=[" ".join(a) for a, _ in OUTPUTS]
)
def test_a_bad_output_is_one_line_naming_it(work, args, names):
    refused(args, *names)


@pytest.mark.parametrize("output", ["no_such_folder/out.xyz", "out.foo", "data.h5",
                                    "inputs.xyz", "alignn.yaml"])  # fmt: skip
def test_an_augment_output_it_may_not_write_is_one_line(work, output):
    config = _augment(work)
    config["data"]["output"] = output
    write_yaml(work / "augment.yaml", config)
    refused(["augment", "augment.yaml"], output)


@pytest.mark.parametrize("target", ["out.pt", "folder", "no_such_folder/out.pt"])
def test_export_refuses_an_output_it_would_damage_or_cannot_write(
    work, trained, target
):
    (work / "out.pt").write_bytes(b"precious")
    (work / "folder").mkdir()
    run = trained["alignn"]
    refused(["export", run, target], target.split("/")[0], watch=[run])


def test_a_folder_of_structure_files_converts_in_natural_order(work):
    folder = work / "poscars"
    folder.mkdir()
    images = structures(3)
    for k, atoms in zip((10, 2, 1), images, strict=True):
        atoms.write(folder / f"POSCAR_{k}", format="vasp")
    accepted("convert", "poscars", "folder.h5")
    again = read_structures("folder.h5")
    assert [len(a) for a in again] == [len(images[2]), len(images[1]), len(images[0])]
