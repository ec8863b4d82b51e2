"""Scale-out: shards of a run (``--shard K/N``) and work on any executor.

Every long generating run is cut into *units* with fixed indices, each drawing
from its own random stream: a family per starting structure (augment) or a
batch (sample, place). A unit's structures depend only on the run's settings
and its index, never on which process, shard or executor made it, so:

- shard ``K`` of ``N`` does the units whose index ``i`` has
  ``i % N == K - 1`` (round robin, so shards get equal shares), and the union
  of the ``N`` shard outputs is the one-process output;
- a :class:`concurrent.futures.Executor` (a process pool, a
  ``dask.distributed`` client's ``get_executor()``, Parsl) runs units as
  tasks whose results are put back in unit order.

Objects sent to workers are pickled once (:class:`Shipped`) and unpickled once
per worker thread. A task run in another process first gets the thread
setting of :mod:`asegen.augment.parallel`: ``cores // workers`` threads unless
``OMP_NUM_THREADS`` was set.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asegen.errors import ConfigError

__all__ = [
    "RUN_KEY",
    "SHARD_KEY",
    "UNITS_KEY",
    "Shard",
    "Shipped",
    "check_resumed_shard",
    "fingerprint",
    "parse_shard",
    "run_ordered",
    "worker_threads",
]

SHARD_KEY = "shard"
"""``info`` key of a sharded run's structures: ``"K/N"``."""
RUN_KEY = "run"
"""``info`` key of a sharded run's structures: the run's :func:`fingerprint`."""
UNITS_KEY = "units"
"""``info`` key of a sharded run's structures: the run's number of units."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``: the units ``i % count == index - 1``."""

    index: int
    count: int

    def owns(self, unit: int) -> bool:
        """Whether unit ``unit`` (0-based) belongs to this shard."""
        return unit % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(value: str | Shard | None) -> Shard | None:
    """Return the shard of ``"K/N"`` (``1 <= K <= N``), or ``None`` for ``None``.

    Raises
    ------
    ConfigError
        For anything else.
    """
    if value is None or isinstance(value, Shard):
        return value
    index, sep, count = str(value).partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        shard = None
    if not sep or shard is None or not 1 <= shard.index <= shard.count:
        raise ConfigError(
            f"--shard must be K/N with 1 <= K <= N (shard K of N, e.g. 2/8), "
            f"got {value!r}"
        )
    return shard


def fingerprint(*parts: Any) -> str:
    """Return 12 characters identifying a run's settings, inputs and model.

    ``parts`` may hold numbers, strings, ``None``, mappings, sequences, numpy
    arrays, torch tensors (a state dict), ``ase.Atoms`` (numbers, positions,
    cell, pbc) and paths (an existing file counts by its content, a folder by
    its path).
    """
    digest = hashlib.sha256()
    _feed(digest, parts)
    text = digest.hexdigest()
    # a first letter past f: extxyz never reads the id back as a number
    return "ghijklmnopqrstuv"[int(text[0], 16)] + text[1:12]


def _feed(digest: Any, value: Any) -> None:
    from ase import Atoms

    if isinstance(value, Atoms):
        for array in (value.numbers, value.positions, value.cell.array, value.pbc):
            _feed(digest, array)
    elif hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        _feed(digest, value.detach().cpu().numpy())
    elif isinstance(value, np.ndarray):
        digest.update(f"array{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, Path):
        if value.is_file():
            digest.update(hashlib.sha256(value.read_bytes()).digest())
        else:
            digest.update(str(value).encode())
    elif isinstance(value, Mapping):
        digest.update(b"{")
        for key in sorted(value, key=str):
            _feed(digest, str(key))
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, list | tuple):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def check_resumed_shard(
    info: Mapping[str, Any], shard: Shard | None, run: str, output: Any
) -> None:
    """Refuse to continue ``output`` (a stored structure's ``info``) as another shard.

    Raises
    ------
    ConfigError
        If ``output`` belongs to another shard, to an unsharded run (or the
        reverse) or to a sharded run of other settings.
    """
    stored = info.get(SHARD_KEY)
    if shard is None and stored is None:
        return
    if stored is None:
        raise ConfigError(
            f"{output} holds an unsharded run; give each shard its own output"
        )
    if shard is None or stored != str(shard):
        other = "" if shard is None else f", not {shard}"
        raise ConfigError(
            f"{output} holds shard {stored}{other}; rerun with --shard {stored} to "
            "continue it, or write to another output"
        )
    if info.get(RUN_KEY) != run:
        raise ConfigError(
            f"{output} holds shard {stored} of another run (other settings, inputs "
            "or model); rerun it as it was started, or write to another output"
        )


class Shipped:
    """An object pickled once, to send to workers; :meth:`get` unpickles it once.

    Each thread of each process gets its own copy (calculators and models are
    not made to be shared between threads), kept for the tasks that follow.

    Parameters
    ----------
    value
        Anything picklable (a generator with its torch model, a calculator).
    """

    _local = threading.local()  # per thread: (digest, object) of the last run

    def __init__(self, value: Any) -> None:
        self.data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self.key = hashlib.sha256(self.data).hexdigest()

    def get(self) -> Any:
        """Return the object (unpickled on this thread's first call)."""
        held = getattr(self._local, "held", None)
        if held is None or held[0] != self.key:
            held = (self.key, pickle.loads(self.data))
            self._local.held = held  # one run's object at a time
        return held[1]


def run_ordered(
    executor: Executor, function: Callable[..., Any], calls: Iterable[tuple]
) -> Iterator[Any]:
    """Submit ``function(*args)`` per ``args`` of ``calls``; yield results in order.

    Up to four calls per worker (64 when the workers are unknown) are in
    flight at a time, so a run of many units neither queues every task's
    arguments at once nor waits on the slowest. On an error, or when the
    caller stops iterating, the calls not yet started are cancelled.

    Raises
    ------
    ConfigError
        If ``executor`` has no ``submit`` method.
    """
    if not callable(getattr(executor, "submit", None)):
        raise ConfigError(
            "executor must be a concurrent.futures.Executor (a process pool, "
            f"a dask client's get_executor(), ...), got {type(executor).__name__}"
        )
    workers = _workers(executor)
    threads = worker_threads(workers) if workers else None
    window = 4 * workers if workers else 64
    pending = iter(calls)
    futures: collections.deque = collections.deque()
    try:
        while True:
            for args in itertools.islice(pending, window - len(futures)):
                futures.append(
                    executor.submit(_call, os.getpid(), threads, function, *args)
                )
            if not futures:
                return
            yield futures.popleft().result()
    finally:
        for future in futures:
            future.cancel()


def worker_threads(workers: int) -> int | None:
    """Return ``cores // workers`` (at least 1); None if OMP_NUM_THREADS is set."""
    if "OMP_NUM_THREADS" in os.environ:
        return None
    if hasattr(os, "sched_getaffinity"):  # the cores this process may use
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return max(1, cores // workers)


def _workers(executor: Executor) -> int | None:
    """Return how many tasks ``executor`` runs at once, or None if unknown."""
    workers = getattr(executor, "_max_workers", None)  # concurrent.futures pools
    client = getattr(executor, "_client", None)  # dask.distributed
    if workers is None and client is not None:
        try:
            workers = sum(client.nthreads().values())
        except Exception:  # not a distributed client after all
            workers = None
    return int(workers) if workers else None


def _call(
    parent: int, threads: int | None, function: Callable[..., Any], *args: Any
) -> Any:
    """Run one task; in another process, with ``threads`` threads first."""
    if threads is not None and os.getpid() != parent:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    return function(*args)
