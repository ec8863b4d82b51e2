"""Scale-out of augment: --shard K/N, asegen merge, executors, as one process."""

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from ase.calculators.emt import EMT
from augment_helpers import (
    SETTINGS,
    cu_cell,
    cu_cluster,
    run_fail,
    run_ok,
    write_config,
)

from asegen._scaleout import run_ordered, worker_threads
from asegen.augment import Augmenter
from asegen.data import read as read_h5

SMALL = {"n_per_structure": 3, "max_relax_steps": 3}


def assert_same(first, second):
    """Same structures, labels and info, in the same order."""
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert a.info == b.info
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.cell.array, b.cell.array)
        assert a.get_potential_energy() == b.get_potential_energy()
        np.testing.assert_array_equal(a.get_forces(), b.get_forces())


@pytest.fixture
def inputs():  # four families: shard 3/3 gets two of them
    return [cu_cell(0), cu_cell(1), cu_cluster(2), cu_cell(3)]


def test_merged_shards_equal_the_one_process_output(workdir):
    config = write_config(workdir, output="whole.h5", **SMALL)
    run_ok("augment", config)
    whole = read_h5("whole.h5")
    assert [a.info["starting-structure"] for a in whole] == [0] * 3 + [1] * 3 + [
        2
    ] * 3 + [3] * 3
    # shard 2 first written with smaller families, then topped up (resume)
    run_ok("augment", config, "--shard", "2/3", "--set", "data.output=s2.h5",
           "--set", "config.n_per_structure=2")  # fmt: skip
    for k, name in ((1, "s1.h5"), (2, "s2.h5"), (3, "s3.db")):
        run_ok("augment", config, "--shard", f"{k}/3", "--set", f"data.output={name}")
    shard = read_h5("s1.h5")
    assert {a.info["starting-structure"] for a in shard} == {0, 3}
    assert {a.info["shard"] for a in shard} == {"1/3"}
    out = run_ok("merge", "merged.h5", "s3.db", "s1.h5", "s2.h5")
    assert "merged 3 shards" in out
    assert "12 structures" in out
    assert_same(read_h5("merged.h5"), whole)
    assert not (workdir / "merged.h5.partial").exists()


def test_merge_refuses_what_is_not_one_whole_run(workdir):
    config = write_config(workdir, output="whole.h5", **SMALL)
    run_ok("augment", config)
    for k in (1, 2):
        run_ok("augment", config, "--shard", f"{k}/2", "--set", f"data.output=s{k}.h5")
    run_ok("augment", config, "--shard", "2/2", "--set", "data.output=other.h5",
           "--set", "config.seed=7")  # fmt: skip
    run_ok("augment", config, "--shard", "2/2", "--set", "data.output=short.h5",
           "--set", "config.n_per_structure=2")  # fmt: skip
    line = run_fail("merge", "m.h5", "s1.h5", "short.h5")
    assert "shard 2/2 (short.h5) is unfinished: family 1 has 2 of 3" in line
    assert "shard 2/2 of run" in run_fail("merge", "m.h5", "s1.h5")
    assert "s1.h5 is given twice" in run_fail("merge", "m.h5", "s1.h5", "s1.h5")
    (workdir / "copy.h5").write_bytes((workdir / "s1.h5").read_bytes())
    assert "both hold shard 1/2" in run_fail("merge", "m.h5", "s1.h5", "copy.h5")
    assert "shards of one run" in run_fail("merge", "m.h5", "s1.h5", "other.h5")
    assert "not the output of a --shard" in run_fail("merge", "m.h5", "whole.h5")
    assert "does not exist" in run_fail("merge", "m.h5", "s1.h5", "nope.h5")
    assert "already exists" in run_fail("merge", "whole.h5", "s1.h5", "s2.h5")
    assert not (workdir / "m.h5").exists()
    run_ok("merge", "m.xyz", "s1.h5", "s2.h5")  # into another format
    # an extxyz shard resumes and merges too (ids stay strings)
    run_ok("augment", config, "--shard", "1/2", "--set", "data.output=s1.xyz",
           "--set", "config.n_per_structure=2")  # fmt: skip
    run_ok("augment", config, "--shard", "1/2", "--set", "data.output=s1.xyz")
    assert "12 structures" in run_ok("merge", "m2.h5", "s1.xyz", "s2.h5")


def test_bad_or_changed_shards_are_one_line_before_any_work(workdir):
    config = write_config(workdir, output="out.h5", **SMALL)
    for value in ("0/2", "3/2", "a/b", "2", "1/0"):
        line = run_fail("augment", config, "--shard", value)
        assert "--shard must be K/N with 1 <= K <= N" in line
    assert not (workdir / "out.h5").exists()
    run_ok("augment", config, "--shard", "1/2")
    assert "holds shard 1/2, not 2/2" in run_fail("augment", config, "--shard", "2/2")
    assert "holds shard 1/2; rerun with --shard 1/2" in run_fail("augment", config)
    assert "of another run" in run_fail(
        "augment", config, "--shard", "1/2", "--set", "config.beta=0.1"
    )


def augmenter():
    return Augmenter(EMT(), **{**SETTINGS, **SMALL})


def test_an_executor_gives_the_serial_structures(inputs):
    used = augmenter()
    serial = list(used.run(inputs))
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        assert_same(list(augmenter().run(inputs, executor=pool)), serial)
        with pytest.raises(ValueError, match="has not calculated yet"):
            list(used.run(inputs, executor=pool))  # EMT's tables do not pickle
    with ThreadPoolExecutor(2) as pool:
        shard = list(augmenter().run(inputs, executor=pool, shard="2/2"))
    assert_same(shard, serial[3:6] + serial[9:])
    with pytest.raises(ValueError, match=r"must be a concurrent\.futures\.Executor"):
        list(augmenter().run(inputs, executor=object()))


def test_a_torch_calculator_in_spawned_workers_gives_the_serial_structures():
    from calculator_factories import alignn_calculator

    settings = {**SETTINGS, "max_force": 1e6, "n_per_structure": 2}
    cells = [cu_cell(k, repeat=(1, 1, 2)) for k in range(3)]
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        runs = {
            batch: [
                list(
                    Augmenter(alignn_calculator(), batch_size=batch, **settings).run(
                        cells, executor=executor
                    )
                )
                for executor in (None, pool)
            ]
            for batch in (1, 2)
        }
    assert_same(*runs[1])  # one structure per call: bit for bit
    # batched: a task grows families 0-1, then 2; one process lets 2 join 1
    # as soon as 0 ends, so labels differ in the last bits of the batch sums
    serial, pooled = runs[2]
    for a, b in zip(serial, pooled, strict=True):
        assert a.info == b.info
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.get_potential_energy() == pytest.approx(
            b.get_potential_energy(), rel=1e-14
        )


def test_workers_of_another_process_get_their_share_of_the_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    calls = [("OMP_NUM_THREADS",)] * 4
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        assert set(run_ordered(pool, os.getenv, calls)) == {str(worker_threads(2))}
    with ThreadPoolExecutor(2) as pool:  # threads of this process: left alone
        assert set(run_ordered(pool, os.getenv, calls)) == {None}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice wins
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        assert set(run_ordered(pool, os.getenv, calls)) == {"3"}


def test_a_dask_cluster_gives_the_serial_structures(inputs):
    distributed = pytest.importorskip("distributed")
    serial = list(augmenter().run(inputs))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = client.get_executor()
        assert_same(list(augmenter().run(inputs, executor=executor)), serial)
