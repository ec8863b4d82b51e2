"""Bad command-line options of every command: one line, exit 2, nothing written.

Options that click itself parses (an integer that is not one, a value outside
a ``click.Choice`` or ``IntRange``) end in click's usage message; the one
line they should be needs the command group (``asegen/cli/__init__.py``),
so those cases are strict expected failures until it turns click's usage
errors into one line.
"""

import pytest
from catalogue_helpers import accepted, invoke, refused

TRAIN = ["train", "alignn", "alignn.yaml", "--data", "data.xyz", "--out", "logs"]
DIFFUSION = ["train", "diffusion", "score.yaml", "--data", "data.xyz", "--out", "gen"]
AUGMENT = ["augment", "augment.yaml"]
CONVERT = ["convert", "data.xyz", "out.h5"]

CASES = [
    # train alignn
    (TRAIN, ["--device", "gpu"], ["gpu"]),
    (TRAIN, ["--device", "cuda:99"], ["cuda:99"]),
    (TRAIN, ["--device", ""], ["train.device"]),
    (TRAIN, ["--seed", "-1"], ["train.seed", "-1"]),
    (TRAIN, ["--workers", "-1"], ["train.num_workers", "-1"]),
    (TRAIN, ["--batch-size", "0"], ["train.batch_size", "0"]),
    (TRAIN, ["--batch-size", "-3"], ["train.batch_size", "-3"]),
    (TRAIN, ["--epochs", "0"], ["train.epochs", "0"]),
    (TRAIN, ["--epochs", "-1"], ["train.epochs", "-1"]),
    (TRAIN, ["--lr", "nan"], ["train.learning_rate"]),
    (TRAIN, ["--lr", "inf"], ["train.learning_rate"]),
    (TRAIN, ["--lr", "-0.01"], ["train.learning_rate"]),
    (TRAIN, ["--set", "epochs"], ["epochs", "key=value"]),
    (TRAIN, ["--set", "=3"], ["=3"]),
    (TRAIN, ["--set", "train.bogus=1"], ["bogus"]),
    (TRAIN, ["--set", "bogus.cutoff=1"], ["bogus"]),
    (TRAIN, ["--set", "model.cutoff=abc"], ["model.cutoff", "abc"]),
    (TRAIN, ["--set", "train.epochs.deep=1"], ["epochs"]),
    (TRAIN, ["--set", "model.cutoff=[1"], ["model.cutoff"]),
    (TRAIN, ["--set", "train.weights={energy: .nan}"], ["weights"]),
    (TRAIN, ["--resume"], ["logs"]),
    (TRAIN, ["--data", "data.xyz", "--val", "missing.xyz"], ["missing.xyz"]),
    # train diffusion
    (DIFFUSION, ["--p-uncond", "2"], ["p_uncond"]),
    (DIFFUSION, ["--p-uncond", "nan"], ["p_uncond"]),
    (DIFFUSION, ["--repeat", "0"], ["repeat"]),
    (DIFFUSION, ["--repeat-epoch", "-1"], ["repeat_epoch"]),
    (DIFFUSION, ["--noiser", "surface", "--cell"], ["cell"]),
    (DIFFUSION, ["--conditioning", "missing_property"], ["missing_property"]),
    (DIFFUSION, ["--finetune", "no_such_run"], ["--conditioning"]),
    (DIFFUSION, ["--finetune", "no_such_run", "--conditioning", "energy"],
     ["no_such_run"]),
    (DIFFUSION, ["--finetune", "run", "--conditioning", "energy", "--noiser", "gas"],
     ["--noiser"]),
    # augment
    (AUGMENT, ["--set", "config.seed"], ["config.seed", "key=value"]),
    (AUGMENT, ["--set", "config.bogus=1"], ["bogus"]),
    (AUGMENT, ["--set", "config.T=.inf"], ["T"]),
    (AUGMENT, ["--set", "config.T=hot"], ["T", "hot"]),
    (AUGMENT, ["--set", "data.output=out.unknown"], ["out.unknown"]),
    (AUGMENT, ["--set", "config.n_per_structure=-3"], ["n_per_structure"]),
    # convert
    (CONVERT, ["--append", "--overwrite"], ["--append", "--overwrite"]),
    (["convert", "data.xyz", "out.xyz", "--append"], [], ["--append", "out.xyz"]),
    (CONVERT, ["--input-format", "no-such-format"], ["no-such-format"]),
    (["convert", "data.h5", "out.xyz", "--format", "no-such-format"], [],
     ["no-such-format"]),
    (["convert", "data.h5", "out.h5", "--format", "extxyz"], [],
     ["--format", "out.h5"]),
    (["convert", "data.xyz", "data.xyz"], [], ["data.xyz"]),
    (["convert", "data.xyz", "data.xyz", "--overwrite"], [], ["data.xyz"]),
    # info
    (["info", "data.xyz", "--input-format", "no-such-format"], [],
     ["no-such-format"]),
    (["info", "data.xyz", "--input-format", "vasp"], [], ["data.xyz"]),
]  # fmt: skip


def _id(case):
    command, extra, _ = case
    return " ".join([*command, *extra])[:80]


@pytest.mark.parametrize(("command", "extra", "names"), CASES, ids=map(_id, CASES))
def test_a_bad_option_is_one_line_naming_it(work, command, extra, names):
    refused([*command, *extra], *names)


SAMPLE_CASES = [
    (["--formula", "Xx2"], ["Xx2"]),
    (["--formula", "Cu2Ag2"], ["Ag"]),
    (["--formula", ""], ["formula"]),
    (["--n-atoms", "0"], ["n_atoms"]),
    (["--n-atoms", "-2"], ["n_atoms"]),
    (["--formula", "Cu2", "--n-atoms", "3"], ["n_atoms"]),
    (["-n", "0"], ["-n", "0"]),
    (["-n", "-4"], ["-n", "-4"]),
    (["--steps", "0"], ["steps", "0"]),
    (["--steps", "-1"], ["steps", "-1"]),
    (["--batch-size", "0"], ["--batch-size", "0"]),
    (["--device", "gpu"], ["gpu"]),
    (["--device", "cuda:99"], ["cuda:99"]),
    (["--seed", "-1"], ["seed", "-1"]),
    (["--cell", "1,2"], ["got 2 numbers"]),
    (["--cell", "a,b,c"], ["a,b,c"]),
    (["--cell", "-3,3,3"], ["-3.0", "positive"]),
    (["--cell", "nan,3,3"], ["nan"]),
    (["--cell", "missing.xyz"], ["missing.xyz"]),
    (["--property", "energy"], ["energy"]),
    (["--property", "energy=low"], ["energy=low"]),
    (["--property", "gap=1.0"], ["gap"]),
    (["--guidance", "nan"], ["guidance"]),
    (["--fmax", "-1", "--relax", "+ase.calculators.emt.EMT()"], ["--fmax"]),
    (["--relax-steps", "-1", "--relax", "+ase.calculators.emt.EMT()"],
     ["--relax-steps"]),
    (["--relax", "+no_such_module.Calc()"], ["no_such_module"]),
    (["--template", "missing.xyz"], ["missing.xyz"]),
    (["--confinement", "5", "1"], ["confinement", "surface models"]),
    (["-o", "samples.unknown"], ["samples.unknown"]),
    (["-o", "no_such_folder/samples.xyz"], ["no_such_folder"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "names"), SAMPLE_CASES, ids=[" ".join(e)[:60] for e, _ in SAMPLE_CASES]
)
def test_a_bad_sample_option_is_one_line_naming_it(work, trained, extra, names):
    run = trained["score"]
    args = ["sample", run, "--formula", "Cu3Au", "--steps", "2", "-n", "2", *extra]
    refused(args, *names, watch=[run])


CLICK_PARSED = [
    (TRAIN, ["--epochs", "ten"], ["--epochs", "ten"]),
    (["augment", "augment.yaml", "--workers", "0"], [], ["--workers"]),
    (["augment", "augment.yaml", "--batch-size", "0"], [], ["--batch-size"]),
    (CONVERT, ["--compression", "zip"], ["--compression", "zip"]),
    (["export", "run", "out.pt", "--dtype", "float16"], [], ["--dtype"]),
    (DIFFUSION, ["--noiser", "crystal"], ["--noiser", "crystal"]),
    (TRAIN, ["--no-such-option"], ["--no-such-option"]),
    (["info", "data.xyz", "extra"], [], ["extra"]),
]


@pytest.mark.parametrize(
    ("command", "extra", "names"), CLICK_PARSED, ids=map(_id, CLICK_PARSED)
)
def test_an_option_click_refuses_is_one_line(work, command, extra, names):
    refused([*command, *extra], *names)


@pytest.mark.parametrize(("command", "extra", "names"), CLICK_PARSED[:4])
def test_an_option_click_refuses_exits_2_and_ends_with_its_error(
    work, command, extra, names
):
    result = invoke(*command, *extra)
    assert result.exit_code == 2
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ")
    assert all(name in last for name in names), last
    assert not (work / "out.h5").exists()
    assert not (work / "logs").exists()


def test_workers_0_and_an_explicit_cpu_train_as_asked(work):
    accepted(*TRAIN, "--workers", "0", "--device", "cpu", "--seed", "0")
    assert (work / "logs/version_0/checkpoints/best.pt").is_file()
