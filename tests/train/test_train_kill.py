"""Training killed with SIGKILL at random moments resumes to the same weights."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from asegen.models.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="kills a subprocess with SIGKILL"
)

DATA = "examples/data/cu_au_emt.xyz"
ARGS = [
    "--epochs", "6", "--batch-size", "4", "--seed", "3",
    "--set", "model.hidden_features=8", "--set", "model.embedding_features=8",
    "--set", "model.alignn_layers=1", "--set", "model.gcn_layers=1",
    "--set", "train.n_train=16", "--set", "train.n_val=4", "--set", "train.n_test=4",
    "--set", "train.scheduler=none",
]  # fmt: skip


def command(out, *extra):
    return [sys.executable, "-m", "asegen", "train", "alignn", "--data", DATA,
            "--out", str(out), *ARGS, *extra]  # fmt: skip


def run(args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, capture_output=True, text=True, env=env, check=False)


def test_sigkill_at_random_moments_then_resume_gives_the_same_weights(tmp_path):
    reference = run(command(tmp_path / "whole"))
    assert reference.returncode == 0, reference.stderr
    moments = random.Random(7)
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kills = 0
    for attempt in range(4):
        extra = (
            ("--resume",)
            if (out / "version_0" / "checkpoints" / "last.pt").exists()
            else ()
        )
        process = subprocess.Popen(
            command(out, *extra),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(moments.uniform(2.0, 5.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
        if attempt and not extra:
            break
    assert kills, "no kill landed: the run finished too fast for the test"
    extra = (
        ("--resume",)
        if (out / "version_0" / "checkpoints" / "last.pt").exists()
        else ()
    )
    final = run(command(out, *extra))
    assert final.returncode == 0, final.stderr
    a, _ = load_checkpoint(tmp_path / "whole" / "version_0" / "checkpoints" / "last.pt")
    b, _ = load_checkpoint(out / "version_0" / "checkpoints" / "last.pt")
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name
    rows = (out / "version_0" / "metrics.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == [str(e) for e in range(6)]
