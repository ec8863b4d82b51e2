"""``asegen train alignn``: configs (asegen's and alignn's), overrides, errors, DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _anchor_config import BENCHMARK_CONFIG
from click.testing import CliRunner

from asegen.cli import main
from asegen.errors import ConfigError
from asegen.models.checkpoint import load_checkpoint
from asegen.train.runner import train_from_config

DATA = "examples/data/cu_au_emt.xyz"
TINY_SET = [
    "model.hidden_features=8",
    "model.embedding_features=8",
    "model.alignn_layers=1",
    "model.gcn_layers=1",
    "train.n_train=16",
    "train.n_val=4",
    "train.n_test=4",
    "batch_size=8",
]

# The anchor's benchmark config (specs/alignn.md, section 3) as a user brings it,
# shrunk to test size.
ALIGNN_CONFIG = {
    **BENCHMARK_CONFIG,
    "epochs": 1,
    "batch_size": 8,
    "n_train": 16,
    "n_val": 4,
    "n_test": 4,
    "num_workers": 0,
    "model": {
        **BENCHMARK_CONFIG["model"],
        "alignn_layers": 1,
        "gcn_layers": 1,
        "hidden_features": 8,
        "embedding_features": 8,
    },
}


def run_cli(*args):
    return CliRunner().invoke(main, list(args))


def test_cli_trains_with_defaults_and_overrides(tmp_path):
    args = ["train", "alignn", "--data", DATA, "--out", str(tmp_path), "--epochs", "1"]
    for item in TINY_SET:
        args += ["--set", item]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "version_0"
    assert f"run directory: {run}" in result.output
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["train"]["epochs"] == 1
    assert hparams["model"]["config"]["hidden_features"] == 8


def test_alignn_config_json_loads_unchanged(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(ALIGNN_CONFIG))
    run = train_from_config("alignn", path, data=DATA, out=tmp_path / "logs")
    model, _ = load_checkpoint(run)
    cfg = model.config
    assert cfg.aggregation == "sum"  # a new model sees geometry (docs/alignn.md)
    assert cfg.max_neighbors == 12  # alignn's graph settings are kept
    assert cfg.cutoff == 6.0
    assert not cfg.keep_degenerate_triplets
    assert cfg.smooth_cutoff
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["train"]["weights"]["energy"] == 0.85
    assert (
        hparams["train"]["loss"] == "l1"
    )  # alignn's FF loop is L1 whatever criterion says


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cutof": 5.0}, "did you mean 'cutoff'"),
        (
            {"model": {**ALIGNN_CONFIG["model"], "hiden_features": 8}},
            "model.hiden_features",
        ),
        ({"neighbor_strategy": "voronoi"}, "voronoi"),
        ({"use_amp": True}, "use_amp"),
        ({"model": {**ALIGNN_CONFIG["model"], "lg_on_fly": False}}, "lg_on_fly"),
        ({"model": {**ALIGNN_CONFIG["model"], "name": "alignn"}}, "model.name"),
    ],
)
def test_alignn_config_mistakes_are_named(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        train_from_config(
            "alignn", {**ALIGNN_CONFIG, **change}, data=DATA, out=tmp_path
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.xyz"], "does not exist"),
        (["--data", DATA, "--set", "train.epoch=3"], "did you mean 'train.epochs'"),
        (
            ["--data", DATA, "--set", "model.aggregation=max"],
            "aggregation must be one of",
        ),
        (["--data", DATA, "--set", "nonsense"], "key=value"),
        (["missing.yaml", "--data", DATA], "config file missing.yaml does not exist"),
        (["--data", "BAD"], "cannot read structure 0 of"),
        (["--data", "README.md"], "holds no structures"),
    ],
)
def test_cli_mistakes_exit_2_with_one_line(tmp_path, args, message):
    bad = tmp_path / "bad.xyz"
    bad.write_text("3\nnot an xyz frame\nH 0 0\n")
    args = [str(bad) if a == "BAD" else a for a in args]
    result = run_cli("train", "alignn", "--out", str(tmp_path), *args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("Error:")
    assert message in lines[0]


def test_the_seed_fixes_the_whole_run(tmp_path):
    """Same seed: the same initial weights and the same trained model."""

    def trained(seed, out):
        run = train_from_config(
            "alignn", data=DATA, out=tmp_path / out,
            overrides=[*TINY_SET, "epochs=1", f"seed={seed}"],
        )  # fmt: skip
        model, _ = load_checkpoint(run / "checkpoints" / "last.pt")
        return model.state_dict()

    first, again, other = trained(5, "a"), trained(5, "b"), trained(6, "c")
    assert all(first[k].equal(again[k]) for k in first)
    assert not all(first[k].equal(other[k]) for k in first)


def test_yaml_config_file_sections(tmp_path):
    config = {
        "model": {"hidden_features": 8, "embedding_features": 8},
        "train": {"epochs": 1},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    run = train_from_config(
        "alignn", path, data=DATA, out=tmp_path, overrides=TINY_SET[2:]
    )
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["model"]["config"]["hidden_features"] == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text("modle: {}\n")
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        train_from_config("alignn", bad, data=DATA, out=tmp_path)


SCRIPT = """
import sys
from asegen.train.runner import train_from_config

data, out, *overrides = sys.argv[1:]
train_from_config("alignn", data=data, out=out, overrides=overrides, progress=False)
"""


def test_two_process_ddp_run_on_cpu(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node", "2", str(script), DATA, str(tmp_path / "logs"),
        "train.epochs=2", "train.device=cpu", *TINY_SET,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list(Path(tmp_path / "logs").glob("version_*"))
    assert len(runs) == 1  # rank 0 alone created the run
    metrics = (runs[0] / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 3  # header + 2 epochs, written once
    assert (runs[0] / "checkpoints" / "best.pt").is_file()


def test_a_task_sets_engine_defaults_that_a_config_overrides():
    from asegen.train.runner import load_run_config

    # the diffusion task trains at a constant rate unless told otherwise
    assert load_run_config("score").train.scheduler == "none"
    assert load_run_config("alignn").train.scheduler == "onecycle"
    chosen = load_run_config("score", {"train": {"scheduler": "onecycle"}})
    assert chosen.train.scheduler == "onecycle"
    overridden = load_run_config("score", overrides=["train.scheduler=onecycle"])
    assert overridden.train.scheduler == "onecycle"
