"""Bad inputs of ``asegen evaluate`` (crystals and --molecules), ``asegen place``
and ``asegen train placer``: one line naming the culprit, nothing written."""

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.io import read, write
from catalogue_helpers import accepted, refused
from test_files import BAD_INPUTS

from asegen.train.runner import train_from_config

PLACER = {
    "n_atom_basis": 8, "n_interactions": 1, "n_filters": 8, "n_rbf": 6,
    "type_prediction_n_layers": 1, "type_prediction_n_hidden": 8,
    "distance_prediction_n_layers": 1, "distance_prediction_n_hidden": 8,
    "model_cutoff": 4.0,
}  # fmt: skip


def _molecules(n=9):
    rng = np.random.default_rng(0)
    images = []
    for k in range(n):
        atoms = molecule(("H2O", "NH3", "CH4")[k % 3])
        atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
        atoms.info["gap"] = float(len(atoms))
        images.append(atoms)
    return images


@pytest.fixture(scope="module")
def placers(tmp_path_factory):
    """Tiny placers of two epochs: ``plain`` and ``cond`` (gap and composition)."""
    root = tmp_path_factory.mktemp("placers")
    write(root / "mols.xyz", _molecules())
    train = {"epochs": 2, "batch_size": 16, "seed": 0, "n_train": 5, "n_val": 2,
             "n_test": 2}  # fmt: skip
    conditions = {"gap": "scalar", "composition": "composition"}
    configs = {
        "plain": {"model": PLACER, "train": train},
        "cond": {"model": PLACER, "train": train, "placer": {"conditions": conditions}},
    }
    return {
        name: train_from_config(
            "gschnet", config, data=root / "mols.xyz", out=root / name, progress=False
        )
        for name, config in configs.items()
    }


@pytest.fixture
def mols(work):
    """``mols.xyz`` (molecules), ``two.xyz`` (H2O, CH4), ``ch4.xyz`` in ``work``."""
    write(work / "mols.xyz", _molecules())
    write(work / "two.xyz", [molecule("H2O"), molecule("CH4")])
    write(work / "ch4.xyz", molecule("CH4"))
    return work


def _nan_structure(work, name):
    atoms = read(work / "data.xyz")
    atoms.positions[2, 1] = np.nan
    write(work / name, atoms)


SAMPLE_FILES = {**BAD_INPUTS, "nan position": ("nan.xyz", _nan_structure)}


# --- evaluate (crystals) -------------------------------------------------------


@pytest.mark.parametrize("role", ["samples", "--reference", "--template"])
@pytest.mark.parametrize("kind", list(SAMPLE_FILES))
def test_evaluate_refuses_a_bad_structure_file_naming_it(work, role, kind):
    name, make = SAMPLE_FILES[kind]
    make(work, name)
    args = {
        "samples": ["evaluate", name, "-r", "data.xyz"],
        "--reference": ["evaluate", "data.xyz", "-r", name],
        "--template": ["evaluate", "data.xyz", "-r", "data.xyz", "--template", name],
    }[role]
    refused(args, name)


EVALUATE_OPTIONS = [
    ([], ["--reference", "--molecules"]),
    (["--formula", "Xx2"], ["Xx"]),
    (["--calculator", "+no_such_module.Calc()"], ["--calculator", "no_such_module"]),
    (["--calculator", "{+ase.calculators.emt.EMT: [1"], ["--calculator"]),
    (["--confinement", "5", "1"], ["confinement", "5 1"]),
    (["--confinement", "nan", "1"], ["confinement", "nan"]),
    (["--n-template", "1000"], ["n_template", "1000"]),
    (["--hull-threshold", "nan"], ["hull_threshold", "nan"]),
    (["--validity-factor", "inf"], ["validity_factor", "inf"]),
    (["--match-tol", "nan"], ["match_tol"]),
    (["--fmax", "-1"], ["--fmax"]),
    (["--steps", "-1"], ["--steps"]),
    (["--matcher", "foo"], ["--matcher", "foo"]),
    (["--optimizer", "LBFGS"], ["--optimizer"]),
    (["--charge", "1"], ["--charge", "--molecules"]),
    (["--vdw"], ["--vdw", "--molecules"]),
    (["--plot", "no_such_folder/e.png"], ["no_such_folder", "--plot"]),
    (["--plot", "e.txt"], ["e.txt", ".png"]),
    (["--plot", "folder"], ["folder", "--plot"]),
    (["--no-plot", "--json", "no_such_folder/e.json"], ["no_such_folder", "--json"]),
    (["--no-plot", "--json", "folder"], ["folder", "--json"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "names"), EVALUATE_OPTIONS, ids=[" ".join(e) for e, _ in EVALUATE_OPTIONS]
)
def test_evaluate_refuses_a_bad_option_before_any_work(work, extra, names):
    (work / "folder").mkdir()
    reference = [] if not extra else ["-r", "data.xyz"]
    refused(["evaluate", "data.xyz", *reference, *extra], *names)


def test_evaluate_writes_what_it_was_asked_for(work):
    accepted("evaluate", "data.xyz", "-r", "data.xyz", "--json", "e.json")
    assert (work / "evaluation.png").stat().st_size > 0
    assert (work / "e.json").stat().st_size > 0


# --- evaluate --molecules --------------------------------------------------------


@pytest.fixture
def rdkit():
    pytest.importorskip("rdkit")


@pytest.mark.parametrize("role", ["samples", "--reference"])
@pytest.mark.parametrize("kind", list(SAMPLE_FILES))
def test_evaluate_molecules_refuses_a_bad_structure_file_naming_it(
    mols, rdkit, role, kind
):
    name, make = SAMPLE_FILES[kind]
    make(mols, name)
    if kind == "nan position":  # a molecule, so that it fails for its NaN alone
        atoms = molecule("CH4")
        atoms.positions[2, 1] = np.nan
        write(mols / name, atoms)
    args = {
        "samples": ["evaluate", name, "--molecules"],
        "--reference": ["evaluate", "two.xyz", "--molecules", "-r", name],
    }[role]
    refused(args, name)


@pytest.mark.parametrize("role", ["samples", "--reference"])
def test_evaluate_molecules_refuses_periodic_structures(mols, rdkit, role):
    write(mols / "bulk.xyz", bulk("Cu", cubic=True))
    args = {
        "samples": ["evaluate", "bulk.xyz", "--molecules"],
        "--reference": ["evaluate", "two.xyz", "--molecules", "-r", "bulk.xyz"],
    }[role]
    what = "sample 0" if role == "samples" else "reference structure 0"
    refused(args, what, "periodic", "without --molecules")


MOLECULE_OPTIONS = [
    (["--charge", "1"], ["charge=1", "--allow-charged-fragments"]),
    (["--timeout", "nan"], ["timeout", "nan"]),
    (["--timeout", "-1"], ["--timeout"]),
    (["--cov-factor", "2"], ["cov_factor=2", "--vdw"]),
    (["--vdw", "--cov-factor", "inf"], ["cov_factor", "inf"]),
    (["--vdw", "--huckel"], ["huckel", "vdw"]),
    (["--formula", "CH4"], ["--formula", "crystals"]),
    (["--calculator", "+ase.calculators.emt.EMT()"], ["--calculator", "crystals"]),
    (["--plot", "e.png"], ["--plot", "crystals"]),
    (["--json", "no_such_folder/e.json"], ["no_such_folder", "--json"]),
    (["--json", "folder"], ["folder", "--json"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "names"), MOLECULE_OPTIONS, ids=[" ".join(e) for e, _ in MOLECULE_OPTIONS]
)
def test_evaluate_molecules_refuses_a_bad_option(mols, rdkit, extra, names):
    (mols / "folder").mkdir()
    refused(["evaluate", "two.xyz", "--molecules", *extra], *names)


def test_evaluate_molecules_with_a_charge_allowed_runs(mols, rdkit):
    output = accepted(
        "evaluate", "two.xyz", "--molecules", "--charge", "1",
        "--allow-charged-fragments", "--json", "m.json",
    )  # fmt: skip
    assert "valid" in output
    assert (mols / "m.json").stat().st_size > 0


# --- place ---------------------------------------------------------------------


def _place(placers, kind, *extra, output="p.xyz"):
    return ["place", placers[kind], "-n", "2", "--batch-size", "2",
            "--max-n-atoms", "6", "-o", output, *extra]  # fmt: skip


def test_place_refuses_a_model_that_is_not_a_placer(work, trained):
    refused(["place", trained["alignn"], "-o", "p.xyz"], "ALIGNN", "train placer")
    refused(["place", trained["score"], "-o", "p.xyz"], "placer")
    refused(["place", "data.xyz", "-o", "p.xyz"], "data.xyz")
    refused(["place", "missing_run", "-o", "p.xyz"], "missing_run")


PLACE_OPTIONS = [
    ("plain", ["--condition", "gap"], ["--condition", "NAME=VALUE"]),
    ("plain", ["--condition", "=3"], ["--condition", "NAME=VALUE"]),
    ("plain", ["--condition", "gap="], ["--condition", "NAME=VALUE"]),
    ("plain", ["--condition", "gap=3"], ["gap", "unconditioned"]),
    ("cond", [], ["composition", "gap", "--condition"]),
    ("cond", ["--condition", "gap=3"], ["composition", "--condition"]),
    ("cond", ["--condition", "gap=3", "--condition", "composition=CH4",
              "--condition", "homo=1"], ["homo"]),
    ("cond", ["--condition", "gap=3", "--condition", "gap=4",
              "--condition", "composition=CH4"], ["gap", "twice"]),
    ("cond", ["--condition", "gap=nan", "--condition", "composition=CH4"],
     ["gap", "nan"]),
    ("cond", ["--condition", "gap=1,2", "--condition", "composition=CH4"], ["gap"]),
    ("cond", ["--condition", "gap=CH4", "--condition", "composition=CH4"],
     ["gap", "CH4", "not a number"]),
    ("cond", ["--condition", "gap=3", "--condition", "composition=C-H"],
     ["composition", "C-H"]),
    ("plain", ["--template", "ch4.xyz", "--max-n-atoms", "5"],
     ["max_n_atoms", "5 atoms"]),
    ("plain", ["--template", "two.xyz"], ["two.xyz", "2 structures"]),
    ("plain", ["--template", "nan.xyz"], ["nan.xyz", "non-finite"]),
    ("plain", ["--template", "missing.xyz"], ["missing.xyz"]),
    ("plain", ["--template", "empty.xyz"], ["empty.xyz"]),
    ("plain", ["--temperature", "0"], ["temperature"]),
    ("plain", ["--temperature", "nan"], ["temperature", "nan"]),
    ("plain", ["--grid-spacing", "-1"], ["grid_spacing"]),
    ("plain", ["--grid-distance-min", "5"], ["grid_distance_min", "placement cutoff"]),
    ("plain", ["--grid-distance-min", "nan"], ["grid_distance_min"]),
    ("plain", ["--seed", "-1"], ["--seed"]),
    ("plain", ["--device", "foo"], ["foo"]),
    ("plain", ["-n", "0"], ["--attempts"]),
    ("plain", ["--batch-size", "0"], ["--batch-size"]),
    ("plain", ["--max-n-atoms", "0"], ["--max-n-atoms"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "extra", "names"), PLACE_OPTIONS,
    ids=[f"{k} {' '.join(e)}" for k, e, _ in PLACE_OPTIONS],
)  # fmt: skip
def test_place_refuses_a_bad_option_before_any_work(mols, placers, kind, extra, names):
    (mols / "empty.xyz").write_text("")
    atoms = molecule("CH4")
    atoms.positions[1, 0] = np.nan
    write(mols / "nan.xyz", atoms)
    refused(_place(placers, kind, *extra), *names, watch=[placers[kind].parent])


@pytest.mark.parametrize(
    ("output", "names"),
    [("data.xyz", ["data.xyz", "asegen place"]), ("data.h5", ["data.h5"]),
     ("p.txt", ["p.txt", ".xyz"]), ("no_such_folder/p.xyz", ["no_such_folder"])],
)  # fmt: skip
def test_place_refuses_an_output_it_did_not_write(work, placers, output, names):
    refused(_place(placers, "plain", output=output), *names)


def test_place_refuses_to_continue_an_output_with_other_settings(work, placers):
    atoms = molecule("H2O")  # as asegen place writes it: seed 1, batch 0 of 2
    atoms.info.update(generator="placer", seed=1, batch=0, batch_size=2)
    write(work / "p.xyz", atoms)
    refused(_place(placers, "plain", "--seed", "2"), "seed 1", "--seed 1")
    refused(
        ["place", placers["plain"], "-n", "4", "--batch-size", "3", "-o", "p.xyz"],
        "--batch-size 2",
    )


# --- train placer --------------------------------------------------------------


TRAIN_OPTIONS = [
    (["--condition", "nope"], ["structure", "mols.xyz", "nope"]),
    (["--condition", "gap", "--condition-type", "composition"],
     ["gap", "--condition-type"]),
    (["--condition", "gap", "--condition-type", "vector"], ["gap", "size"]),
    (["--draw-random-samples", "-1"], ["draw_random_samples"]),
    (["--set", "model.placement_cutoff=.nan"], ["placement_cutoff"]),
    (["--set", "model.placement_cutoff=0.1"], ["mols.xyz", "placement_cutoff"]),
    (["--set", "model.n_atom_basis=0"], ["n_atom_basis"]),
    (["--set", "model.prediction_cutoff=-1"], ["prediction_cutoff"]),
    (["--set", "model.atom_types=[1]"], ["mols.xyz", "atom_types"]),
    (["--set", "model.conditions=3"], ["conditions"]),
    (["--set", "placer.conditions.gap=size"], ["gap", "kind"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "names"), TRAIN_OPTIONS, ids=[" ".join(e) for e, _ in TRAIN_OPTIONS]
)
def test_train_placer_refuses_bad_settings_before_the_first_epoch(mols, extra, names):
    refused(["train", "placer", "--data", "mols.xyz", "--epochs", "1", "--out",
             "logs", *extra], *names)  # fmt: skip


@pytest.mark.parametrize("kind", ["nan position", "missing", "empty xyz"])
def test_train_placer_refuses_bad_data_naming_it(mols, kind):
    name, make = SAMPLE_FILES[kind]
    make(mols, name)
    refused(["train", "placer", "--data", name, "--out", "logs"], name)


def test_train_placer_refuses_data_that_cannot_be_built_atom_by_atom(mols):
    refused(["train", "placer", "--data", "data.xyz", "--out", "logs"],
            "data.xyz", "placement_cutoff")  # fmt: skip
