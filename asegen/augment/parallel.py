"""Grow families in worker processes, streaming each new member back at once.

Workers are forked on Linux when torch is not loaded (they start at once and
share the calculator as it is) and spawned otherwise (safe with torch's
threads; the calculator is pickled). Unless ``OMP_NUM_THREADS`` is set, each
worker gets an equal share of the cores as its thread count: N workers of a
torch calculator that each start one thread per core slow each other down
many times over. Each takes starting structures from a
shared task queue and sends every structure back as soon as it is accepted;
the main process owns the output. Workers ignore SIGINT: on Ctrl-C, or on an
error anywhere, the main process stops them all. Workers die with the main
process, however it ends (``kill -9`` included): on Linux the kernel kills
them (``PR_SET_PDEATHSIG``), and everywhere a thread in each worker ends it
once it has been re-parented.

:func:`drive_on_executor` runs the same growth on any
:class:`concurrent.futures.Executor` instead: a family per task (a batch of
families with a batching calculator), each task's members sent back when it
ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from typing import Any

from ase.calculators.calculator import BaseCalculator

from asegen._scaleout import Shipped, run_ordered, worker_threads
from asegen.augment.config import AugmentSettings
from asegen.augment.driver import Finished, drive, uses_batches
from asegen.augment.family import FamilyTask, Produced
from asegen.augment.streams import SlotStreams
from asegen.errors import AsegenError, ConfigError

__all__ = ["drive_in_workers", "drive_on_executor"]

_POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def drive_in_workers(
    calculator: BaseCalculator,
    settings: AugmentSettings,
    streams: SlotStreams,
    tasks: Sequence[FamilyTask],
    *,
    batch_size: int,
    workers: int,
) -> Iterator[Produced | Finished]:
    """As :func:`~asegen.augment.driver.drive`, one family per worker at a time.

    Raises
    ------
    ConfigError
        If the calculator cannot be pickled for the workers.
    AsegenError, RuntimeError
        Re-raised from a worker that failed (or died).
    """
    context = _context()
    if context.get_start_method() != "fork":
        try:
            pickle.dumps(calculator)
        except Exception as err:
            raise ConfigError(
                f"the calculator cannot be sent to worker processes ({err}); use "
                "one worker"
            ) from None
    todo = context.Queue()
    results = context.Queue()
    count = min(workers, len(tasks))
    work = (os.getpid(), calculator, settings, streams, batch_size, todo, results)
    processes = [
        context.Process(target=_work, args=work, daemon=True) for _ in range(count)
    ]
    try:
        with _threads_per_worker(count):
            for process in processes:  # before any queue has a feeder thread to fork
                process.start()
        for task in [*tasks, *[None] * count]:
            todo.put(task)
        remaining = len(tasks)
        while remaining:
            try:
                kind, item = results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                _check_alive(processes)
                continue
            if kind == "error":
                raise item
            if isinstance(item, Finished):
                remaining -= 1
            yield item
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join()
        for channel in (todo, results):
            channel.close()
            channel.cancel_join_thread()


def drive_on_executor(
    calculator: BaseCalculator,
    settings: AugmentSettings,
    streams: SlotStreams,
    tasks: Sequence[FamilyTask],
    *,
    batch_size: int,
    executor: Executor,
) -> Iterator[Produced | Finished]:
    """As :func:`~asegen.augment.driver.drive`, a family per task of ``executor``.

    A calculator with ``calculate_batch`` gets ``batch_size`` families per
    task, grown in lockstep as :func:`~asegen.augment.driver.drive` grows
    them. Events come back task by task, in the order of ``tasks``.

    Raises
    ------
    ConfigError
        If the calculator cannot be pickled for the workers.
    """
    width = batch_size if uses_batches(calculator, batch_size) else 1
    try:
        shipped = Shipped((calculator, settings, streams, batch_size))
    except Exception as err:
        raise ConfigError(
            f"the calculator cannot be sent to the executor's workers ({err}); "
            "give one that has not calculated yet, or run without an executor"
        ) from None
    groups = [(shipped, tasks[i : i + width]) for i in range(0, len(tasks), width)]
    for events in run_ordered(executor, _drive_group, groups):
        yield from events


def _drive_group(
    shipped: Shipped, tasks: Sequence[FamilyTask]
) -> list[Produced | Finished]:
    """Grow ``tasks`` in a worker; return every event."""
    calculator, settings, streams, batch_size = shipped.get()
    return list(drive(calculator, settings, streams, tasks, batch_size=batch_size))


def _context() -> Any:
    """``fork`` on Linux while torch is not loaded (instant start), else ``spawn``."""
    if sys.platform == "linux" and "torch" not in sys.modules:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


@contextlib.contextmanager
def _threads_per_worker(workers: int) -> Iterator[None]:
    """Set ``OMP_NUM_THREADS`` to cores // workers while workers start."""
    threads = worker_threads(workers)
    if threads is None:
        yield
        return
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        yield
    finally:
        del os.environ["OMP_NUM_THREADS"]


def _check_alive(processes: list[Any]) -> None:
    for process in processes:
        if process.exitcode not in (None, 0):
            raise RuntimeError(
                f"a worker process died (exit code {process.exitcode}); "
                "rerun to resume, or use fewer workers"
            )


def _die_with_parent(parent: int) -> None:
    """End this worker process as soon as process ``parent`` has gone.

    On Linux the kernel sends SIGKILL when the thread that started the worker
    ends (the main thread of ``asegen augment``; an API user must keep the
    thread that starts iterating alive while it iterates). Everywhere, a
    daemon thread checks twice a second whether the worker was re-parented;
    it also covers a parent that died before the request was made.
    """
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):  # no libc: the thread
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_POLL_SECONDS)
    os._exit(1)


def _work(
    parent: int,
    calculator: BaseCalculator,
    settings: AugmentSettings,
    streams: SlotStreams,
    batch_size: int,
    todo: Any,
    results: Any,
) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides
    try:
        while (task := todo.get()) is not None:
            for item in drive(
                calculator, settings, streams, [task], batch_size=batch_size
            ):
                results.put(("item", item))
    except AsegenError as err:
        results.put(("error", err))
    except BaseException:
        results.put(("error", RuntimeError(traceback.format_exc())))
