"""Memory-allocator settings for torch models: :func:`tune_allocator`.

A force evaluation allocates and frees hundreds of tensors of 0.1–30 MB.
With the C library's defaults every such tensor is new memory from the
kernel, paid for in page faults that cost more than the arithmetic on it
(ALIGNN on a 32-atom Cu cell: about 30,000 faults and a third to a half of
the time per evaluation). Two settings keep that memory in the process instead:

- torch's ``THP_MEM_ALLOC_ENABLE=1`` puts tensors of 2 MB and more on
  transparent huge pages (512 times fewer faults). torch reads it once, when
  it allocates its first tensor, so it is set only if torch is not imported.
- glibc's ``mallopt``: blocks up to 16 MB come from the heap, and up to
  1 GiB of freed heap stays mapped for the next evaluation instead of being
  handed back and faulted in again. Larger blocks stay separate mappings, so
  peak memory of large cells is unchanged (with glibc's largest threshold,
  32 MB, Si4096 ran up to 2x faster but peaked 1.8–1.9x higher).

Both change the whole process, including memory that is not asegen's, so
nothing is applied on import: the ``asegen`` command applies them when it
starts, a script by calling :func:`asegen.tune_allocator` before it imports
torch.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import NamedTuple

__all__ = ["AllocatorTuning", "tune_allocator"]

OPT_OUT = "ASEGEN_TUNE_MALLOC"
HUGE_PAGES = "THP_MEM_ALLOC_ENABLE"
M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers
M_MMAP_THRESHOLD = -3
HEAP_BLOCK = 16 * 2**20  # blocks up to this size come from the heap
KEEP_FREED = 2**30  # freed heap kept mapped, at most
HEAP_ENVIRONMENT = {  # the same settings, as child processes read them
    "MALLOC_MMAP_THRESHOLD_": str(HEAP_BLOCK),
    "MALLOC_TRIM_THRESHOLD_": str(KEEP_FREED),
}
_USER_SETTINGS = (*HEAP_ENVIRONMENT, "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


class AllocatorTuning(NamedTuple):
    """What one call of :func:`tune_allocator` applied."""

    huge_pages: bool
    """``THP_MEM_ALLOC_ENABLE=1`` was set for torch."""
    heap: bool
    """glibc's heap thresholds were set with ``mallopt``."""
    left_alone: str
    """Why a setting was not applied, ``"; "``-separated; empty if none."""


def tune_allocator() -> AllocatorTuning:
    """Keep tensor memory in the process: huge pages for torch, glibc's heap.

    Speeds up torch models on a CPU whose evaluations allocate and free many
    tensors of 0.1–30 MB (ALIGNN on fcc Cu32: 2–3x; see the benchmarks page)
    at the price of up to 1 GiB of freed memory kept resident. It changes the
    whole process, so ``import asegen`` never calls it; the ``asegen``
    command calls it when it starts. Call it before ``import torch``: torch
    reads ``THP_MEM_ALLOC_ENABLE`` once, when it allocates its first tensor,
    so once torch is imported the huge pages are left alone (``left_alone``
    says so) and only the heap settings apply.

    Applied, each unless the user chose otherwise:

    - ``THP_MEM_ALLOC_ENABLE=1`` in ``os.environ`` (tensors of 2 MB and more
      on transparent huge pages), unless the variable is set already;
    - on Linux with glibc, ``mallopt``: blocks up to 16 MB from the heap and up
      to 1 GiB of freed heap kept mapped; also exported as
      ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``, so processes
      started afterwards (augment workers) start tuned like the huge pages.
      Skipped if any ``MALLOC_*_`` variable or a ``glibc.malloc`` tunable in
      ``GLIBC_TUNABLES`` is set.

    ``ASEGEN_TUNE_MALLOC=0`` in the environment turns off both.

    Returns
    -------
    AllocatorTuning
        ``(huge_pages, heap, left_alone)``: what this call applied and why it
        left a setting alone.
    """
    if os.environ.get(OPT_OUT) == "0":
        return AllocatorTuning(False, False, f"{OPT_OUT}=0")
    huge_pages_skipped, heap_skipped = _huge_pages_left_alone(), _heap_left_alone()
    if not huge_pages_skipped:
        os.environ[HUGE_PAGES] = "1"
    if not heap_skipped:
        mallopt = ctypes.CDLL(None).mallopt
        mallopt(M_MMAP_THRESHOLD, HEAP_BLOCK)
        mallopt(M_TRIM_THRESHOLD, KEEP_FREED)
        os.environ.update(HEAP_ENVIRONMENT)
    return AllocatorTuning(
        huge_pages=not huge_pages_skipped,
        heap=not heap_skipped,
        left_alone="; ".join(filter(None, [huge_pages_skipped, heap_skipped])),
    )


def _huge_pages_left_alone() -> str:
    """Why huge pages cannot or must not be set; empty if they can."""
    if HUGE_PAGES in os.environ:
        return f"huge pages: {HUGE_PAGES} is set already"
    if "torch" in sys.modules:
        return "huge pages: torch is imported already; call this before import torch"
    return ""


def _heap_left_alone() -> str:
    """Why glibc's heap settings cannot or must not be changed; empty if they can."""
    if not _glibc():
        return "heap: the C library is not glibc"
    chosen = [name for name in _USER_SETTINGS if name in os.environ]
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        chosen.append("GLIBC_TUNABLES")
    return f"heap: {', '.join(chosen)} set already" if chosen else ""


def _glibc() -> bool:
    # what platform.libc_ver() asks first, without importing platform (3 ms)
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):  # no confstr, or not glibc
        return False
