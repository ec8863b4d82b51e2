"""numpy's and scipy's BLAS thread pools, held at one thread for small cells.

ASE's optimizers and cell filters do their linear algebra in numpy and scipy
between two evaluations of the calculator: BFGS diagonalises its (3N+9)^2
Hessian at every step, FrechetCellFilter takes matrix exponentials and
logarithms. OpenBLAS spreads each of these small calls over one thread per
core, so every call hands work to its worker threads and waits for them; on a
busy machine a worker that has lost its core stalls the call for a time slice.
On a busy 2-core machine a BFGS + FrechetCellFilter step of a 32-atom cell
spent 0.24-0.56 s in numpy with two OpenBLAS threads and 0.009 s with one
(benchmarks/alignn/threads.py, docs/benchmarks.md); limiting the pools only
inside the calculator's call gains nothing, because that time is spent
between the calls.

So a calculator that evaluates small cells holds the pools at one thread for
as long as it lives (or until it evaluates a large structure, or is told
``blas_threads=None``), and the pools' own setting comes back when no
calculator holds them any more. Nothing happens at import.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref

from threadpoolctl import ThreadpoolController

__all__ = ["POOL_VARIABLES", "hold_blas_threads", "pool_variable_set"]

#: Environment variables that size the BLAS pools: when one is set, the user
#: has chosen, and ``blas_threads="auto"`` leaves the pools alone.
POOL_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
)

_lock = threading.RLock()  # a holder may be collected while it is held
_wanted: dict[int, int] = {}  # id(holder) -> threads it wants
_limiters: list = []  # every limit set, each able to restore what it found
_modules = [0]  # len(sys.modules) when the pools were last set


def pool_variable_set() -> bool:
    """Whether the user sized the BLAS pools through the environment."""
    return any(name in os.environ for name in POOL_VARIABLES)


def hold_blas_threads(holder: object, threads: int | None) -> None:
    """Hold the BLAS pools at ``threads`` while ``holder`` lives (``None``: let go).

    With several holders the pools run the fewest threads any of them wants.
    The pools' own setting is restored when the last holder lets go or is
    garbage-collected. A library loaded since the pools were last set (an
    import of scipy.linalg, say) is found at the next call.
    """
    key = id(holder)
    with _lock:
        if _wanted.get(key) == threads and (
            threads is None or len(sys.modules) == _modules[0]
        ):
            return
        if threads is None:
            _wanted.pop(key)
        else:
            if key not in _wanted:
                done = weakref.finalize(holder, _release, key)
                done.atexit = False
            _wanted[key] = threads
        _apply()


def _release(key: int) -> None:
    """Let go of a garbage-collected holder's hold."""
    with _lock:
        if _wanted.pop(key, None) is not None:
            _apply()


def _apply() -> None:
    """Set the pools to the fewest wanted threads, or restore their own setting."""
    if not _wanted:
        while _limiters:  # newest first, so the oldest restores the first state
            _limiters.pop().restore_original_limits()
        return
    _modules[0] = len(sys.modules)
    limits = min(_wanted.values())
    _limiters.append(ThreadpoolController().limit(limits=limits, user_api="blas"))
