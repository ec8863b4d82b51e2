"""asegen._scaleout: shards, fingerprints and ordered executor runs."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from asegen._scaleout import Shard, fingerprint, parse_shard, run_ordered
from asegen.errors import ConfigError


def test_shards_split_units_round_robin_and_bad_values_are_refused():
    shards = [parse_shard(f"{k}/3") for k in (1, 2, 3)]
    owners = [[k for k, shard in enumerate(shards) if shard.owns(u)] for u in range(7)]
    assert owners == [[0], [1], [2], [0], [1], [2], [0]]  # each unit exactly once
    assert str(shards[1]) == "2/3"
    assert parse_shard(None) is None
    assert parse_shard(Shard(1, 1)) == Shard(1, 1)
    for bad in ("0/3", "4/3", "1/0", "-1/2", "2", "a/b", "1/2/3", ""):
        with pytest.raises(ConfigError, match="--shard must be K/N"):
            parse_shard(bad)


def test_fingerprints_follow_content_not_identity(tmp_path):
    atoms = bulk("Cu") * 2
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    first = fingerprint("sample", Path(model), 3, {"b": 1, "a": [1.0, None]}, atoms)
    again = fingerprint("sample", Path(model), 3, {"a": [1.0, None], "b": 1}, atoms)
    assert first == again
    assert len(first) == 12
    moved = atoms.copy()
    moved.positions[0, 0] += 1e-9
    assert (
        fingerprint("sample", Path(model), 3, {"b": 1, "a": [1.0, None]}, moved)
        != first
    )
    model.write_bytes(b"other weights")
    assert (
        fingerprint("sample", Path(model), 3, {"b": 1, "a": [1.0, None]}, atoms)
        != first
    )
    assert fingerprint(np.zeros(3)) != fingerprint(np.zeros(3, dtype=np.float32))


def test_run_ordered_keeps_order_and_a_bounded_window():
    running, most, lock = [0], [0], threading.Lock()

    def task(k):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.002 * (k % 3))  # later tasks often finish first
        with lock:
            running[0] -= 1
        return k

    submitted = []

    def calls():
        for k in range(40):
            submitted.append(k)
            yield (k,)

    with ThreadPoolExecutor(2) as pool:
        results = run_ordered(pool, task, calls())
        assert next(results) == 0
        assert len(submitted) <= 9  # four per worker ahead, not all 40
        assert [0, *results] == list(range(40))
    assert most[0] <= 2


def test_run_ordered_raises_the_first_failure_and_cancels_the_rest():
    def task(k):
        if k == 1:
            raise ValueError("unit 1 failed")
        time.sleep(0.01)
        return k

    with ThreadPoolExecutor(1) as pool:
        results = run_ordered(pool, task, [(k,) for k in range(20)])
        assert next(results) == 0
        with pytest.raises(ValueError, match="unit 1 failed"):
            next(results)
