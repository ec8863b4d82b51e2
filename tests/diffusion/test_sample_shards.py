"""Scale-out of sampling: --shard K/N, asegen merge, executors, as one process."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from click.testing import CliRunner
from test_generator import alloys, generator

from asegen.cli import main
from asegen.data import read, write
from asegen.diffusion import DiffusionConfig
from asegen.models.checkpoint import save_checkpoint

REQUEST = {"formula": "Cu3Au", "steps": 3, "seed": 3, "batch_size": 2}


@pytest.fixture(scope="module")
def bulk_generator():
    return generator(DiffusionConfig(), alloys())


def assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert a.info == b.info
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.cell.array, b.cell.array)


def cli(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_merged_shards_equal_the_one_process_output(bulk_generator, tmp_path):
    model = tmp_path / "gen.pt"
    save_checkpoint(model, bulk_generator.model)
    common = ["sample", model, "--formula", "Cu3Au", "--steps", "3",
              "--batch-size", "2", "--seed", "3", "--device", "cpu"]  # fmt: skip
    assert cli(*common, "-n", "7", "-o", tmp_path / "whole.h5").exit_code == 0
    whole = read(tmp_path / "whole.h5")
    assert [a.info["sample"] for a in whole] == list(range(7))
    # shard 1 owns batches 0 and 2: one batch now, the rest on resume
    result = cli(*common, "-n", "3", "-o", tmp_path / "s1.h5", "--shard", "1/2")
    assert "wrote 2 structures" in result.output
    for k in (1, 2):
        out = tmp_path / f"s{k}.h5"
        result = cli(*common, "-n", "7", "-o", out, "--shard", f"{k}/2")
        assert result.exit_code == 0, result.output
    assert [a.info["sample"] for a in read(tmp_path / "s1.h5")] == [0, 1, 4, 5]
    result = cli(*common, "-n", "7", "-o", tmp_path / "s2.h5", "--shard", "2/2")
    assert "wrote 0 structures" in result.output  # complete: nothing redrawn
    # stopped in the middle of batch 2 (sample 4 written, 5 not): resumed
    cut = tmp_path / "cut.h5"
    write(cut, read(tmp_path / "s1.h5")[:3])
    result = cli(*common, "-n", "7", "-o", cut, "--shard", "1/2")
    assert "wrote 1 structures" in result.output
    assert_same(read(cut), read(tmp_path / "s1.h5"))
    early = tmp_path / "early.h5"  # stopped before its batch 2 (samples 4, 5)
    cli(*common, "-n", "3", "-o", early, "--shard", "1/2")
    result = cli("merge", tmp_path / "m.h5", tmp_path / "s2.h5", early)
    assert result.exit_code == 2
    assert "shard 1/2" in result.output
    assert "is unfinished: sample 4 is missing" in result.output
    merged = tmp_path / "merged.h5"
    result = cli("merge", merged, tmp_path / "s2.h5", tmp_path / "s1.h5")
    assert result.exit_code == 0, result.output
    assert "7 structures" in result.output
    assert_same(read(merged), whole)
    result = cli(*common[:-6], "--batch-size", "2", "-n", "7", "--shard", "1/2",
                 "-o", tmp_path / "s3.h5")  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: --shard needs --seed: every shard must draw from the same stream "
        "of samples"
    )


def test_an_executor_gives_the_serial_samples(bulk_generator):
    serial = bulk_generator.sample(5, **REQUEST, progress=False)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        pooled = bulk_generator.sample(5, **REQUEST, progress=False, executor=pool)
    assert_same(pooled, serial)
    shard = [
        atoms
        for batch in bulk_generator.batches(5, shard="2/2", **REQUEST)
        for atoms in batch
    ]
    assert_same(shard, serial[2:4])


def test_a_dask_cluster_gives_the_serial_samples(bulk_generator):
    distributed = pytest.importorskip("distributed")
    serial = bulk_generator.sample(5, **REQUEST, progress=False)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = client.get_executor()
        assert_same(bulk_generator.sample(5, **REQUEST, executor=executor), serial)
