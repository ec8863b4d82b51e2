"""Scale-out of placing: --shard K/N, asegen merge, executors, as one process."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from asegen.cli import main
from asegen.data import read
from asegen.placer import AutoregressivePlacer

OPTIONS = {"seed": 4, "batch_size": 3, "max_n_atoms": 10}


def assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert a.info == b.info
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_array_equal(a.positions, b.positions)


def cli(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_merged_shards_equal_the_one_process_output(
    trained_run: Path, tmp_path: Path
) -> None:
    common = ["place", trained_run, "--batch-size", "3", "--max-n-atoms", "10",
              "--seed", "4", "--device", "cpu", "-n", "10"]  # fmt: skip
    assert cli(*common, "-o", tmp_path / "whole.h5").exit_code == 0
    whole = read(tmp_path / "whole.h5")
    for k in (1, 2, 3):
        result = cli(*common, "-o", tmp_path / f"s{k}.h5", "--shard", f"{k}/3")
        assert result.exit_code == 0, result.output
    assert {a.info["batch"] for a in read(tmp_path / "s1.h5")} == {0, 3}
    result = cli(*common, "-o", tmp_path / "s1.h5", "--shard", "1/3")
    assert "placed 0 structures" in result.output  # resumed: nothing twice
    merged = tmp_path / "merged.h5"
    shards = [tmp_path / f"s{k}.h5" for k in (3, 1, 2)]
    result = cli("merge", merged, *shards)
    assert result.exit_code == 0, result.output
    assert_same(read(merged), whole)
    attempts = [a.info["attempt"] for a in whole]
    assert attempts == sorted(attempts)
    assert len(set(attempts)) == len(attempts)
    result = cli(*common[:-6], "-n", "10", "--shard", "1/3", "-o", tmp_path / "x.h5")
    assert result.exit_code == 2
    assert "--shard needs --seed" in result.output


def test_an_executor_gives_the_serial_structures(trained_run: Path) -> None:
    placer = AutoregressivePlacer.load(trained_run, device="cpu")
    serial = placer.sample(7, **OPTIONS)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        assert_same(placer.sample(7, **OPTIONS, executor=pool), serial)
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = client.get_executor()
        assert_same(placer.sample(7, **OPTIONS, executor=executor), serial)
