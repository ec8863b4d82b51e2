"""Bad checkpoints and run directories: refused in one line, never executed.

Every reader of a model is tried: ``asegen info``, ``export``, ``sample``,
``train --resume``, ``asegen.load``, ``ALIGNNCalculator.load`` and
``asegen.diffusion.load_diffusion``.
"""

import os
import shutil

import pytest
import torch
from catalogue_helpers import accepted, api_refused, refused

import asegen
from asegen.calculators import ALIGNNCalculator
from asegen.diffusion import load_diffusion

MARKER = "pwned"


class Payload:
    """Unpickling it would create the file ``pwned`` in the working folder."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _garbage(path):
    path.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)


def _empty(path):
    path.write_bytes(b"")


def _truncated(path, source):
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _pickle_payload(path, source):
    payload = torch.load(source, weights_only=True)
    payload["hparams"] = Payload()
    torch.save(payload, path)


def _hparams_mismatch(path, source):
    payload = torch.load(source, weights_only=True)
    payload["hparams"]["config"]["hidden_features"] = 8
    torch.save(payload, path)


def _plain_tensor(path):
    torch.save(torch.zeros(3), path)


SPOILS = {
    "garbage": lambda path, source: _garbage(path),
    "empty": lambda path, source: _empty(path),
    "truncated": _truncated,
    "pickle payload": _pickle_payload,
    "hparams mismatch": _hparams_mismatch,
    "plain tensor": lambda path, source: _plain_tensor(path),
}


@pytest.fixture
def spoiled(work, trained, request):
    """``bad.pt`` in the working folder, spoiled from the trained ALIGNN's best.pt."""
    source = trained["alignn"] / "checkpoints" / "best.pt"
    SPOILS[request.param](work / "bad.pt", source)
    return work / "bad.pt"


READERS = {
    "info": lambda path: ["info", path.name],
    "export": lambda path: ["export", path.name, "out.pt"],
    "sample": lambda path: ["sample", path.name, "--formula", "Cu", "-n", "1"],
}


@pytest.mark.parametrize("spoiled", list(SPOILS), indirect=True)
@pytest.mark.parametrize("reader", list(READERS))
def test_the_cli_refuses_a_bad_checkpoint_naming_it(spoiled, reader):
    refused(READERS[reader](spoiled), spoiled.name)
    assert not (spoiled.parent / MARKER).exists()


LOADERS = {
    "asegen.load": asegen.load,
    "ALIGNNCalculator.load": ALIGNNCalculator.load,
    "load_diffusion": load_diffusion,
}


@pytest.mark.parametrize("spoiled", list(SPOILS), indirect=True)
@pytest.mark.parametrize("loader", list(LOADERS))
def test_python_loaders_refuse_a_bad_checkpoint_naming_it(spoiled, loader):
    api_refused(lambda: LOADERS[loader](spoiled), spoiled.name)
    assert not (spoiled.parent / MARKER).exists()


def test_a_resumed_run_refuses_a_bad_last_checkpoint_and_changes_nothing(work, trained):
    run = work / "logs" / "version_0"
    shutil.copytree(trained["alignn"], run)
    _pickle_payload(run / "checkpoints" / "last.pt", run / "checkpoints" / "best.pt")
    refused(["train", "alignn", "alignn.yaml", "--data", "data.xyz", "--out", "logs",
             "--resume", "--epochs", "2"], "last.pt")  # fmt: skip
    assert not (work / MARKER).exists()


@pytest.mark.parametrize(
    ("kind", "loader", "names"),
    [
        ("score", ALIGNNCalculator.load, ["score"]),
        ("alignn", load_diffusion, ["diffusion"]),
    ],
)
def test_a_checkpoint_of_another_model_kind_is_refused(
    work, trained, kind, loader, names
):
    run = trained[kind]
    api_refused(lambda: loader(run), *names, watch=[run])


@pytest.mark.parametrize(
    ("kind", "command", "names"),
    [
        ("alignn", ["sample", "{run}", "--formula", "Cu", "-n", "1"], ["diffusion"]),
        ("score", ["export", "{run}", "out.pt"], ["score"]),
        ("alignn", ["train", "diffusion", "score.yaml", "--data", "data.xyz",
                    "--out", "{parent}", "--resume"], ["alignn"]),
        ("score", ["train", "alignn", "alignn.yaml", "--data", "data.xyz",
                   "--out", "{parent}", "--resume"], ["score"]),
    ],
)  # fmt: skip
def test_the_cli_refuses_a_run_of_another_model_kind(
    work, trained, kind, command, names
):
    run = trained[kind]
    args = [a.format(run=run, parent=run.parent) for a in command]
    refused(args, *names, watch=[run.parent])


def test_a_run_directory_without_checkpoints_is_one_line(work, trained):
    run = work / "run"
    shutil.copytree(trained["alignn"], run)
    shutil.rmtree(run / "checkpoints")
    for args in (["info", "run"], ["export", "run", "out.pt"]):
        refused(args, "run")


@pytest.mark.parametrize("missing", ["checkpoints/best.pt", "hparams.yaml"])
def test_a_run_without_best_pt_or_hparams_serves_its_last_checkpoint(
    work, trained, missing
):
    run = work / "run"
    shutil.copytree(trained["alignn"], run)
    (run / missing).unlink()
    kept = "best.pt" if missing == "hparams.yaml" else "last.pt"
    assert f"checkpoint:  run/checkpoints/{kept}" in accepted("info", "run")
    assert "wrote out.pt" in accepted("export", "run", "out.pt")
    assert (work / "out.pt").stat().st_size > 0
