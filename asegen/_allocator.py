"""Memory-allocator settings made once, when asegen is imported.

A force evaluation allocates and frees hundreds of tensors of 0.1–30 MB.
With the C library's defaults every such tensor is new memory from the
kernel, paid for in page faults that cost more than the arithmetic on it
(ALIGNN on a 32-atom Cu cell: 28,800 faults and 43 % of the time per
evaluation). Two settings keep that memory in the process instead:

- torch's ``THP_MEM_ALLOC_ENABLE=1`` puts tensors of 2 MB and more on
  transparent huge pages (512 times fewer faults). torch reads it when it is
  imported, so it is set only if torch is not imported yet.
- glibc's ``mallopt``: blocks up to 16 MB come from the heap, and up to
  1 GiB of freed heap stays mapped for the next evaluation instead of being
  handed back and faulted in again. Larger blocks stay separate mappings, so
  peak memory of large cells is unchanged (with glibc's largest threshold,
  32 MB, Si4096 ran 2x faster but peaked 1.8x higher).

A value the user set wins: ``THP_MEM_ALLOC_ENABLE`` in the environment, any
``MALLOC_*_`` variable or a ``glibc.malloc`` tunable, or
``ASEGEN_TUNE_MALLOC=0`` to keep the C library's own behaviour.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["configure"]

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers
M_MMAP_THRESHOLD = -3
HEAP_BLOCK = 16 * 2**20  # blocks up to this size come from the heap
KEEP_FREED = 2**30  # freed heap kept mapped, at most
_USER_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
)


def configure() -> None:
    """Apply both settings unless the user chose otherwise (see module docs)."""
    if "torch" not in sys.modules:
        os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    if _user_chose_malloc() or not _glibc():
        return
    mallopt = ctypes.CDLL(None).mallopt
    mallopt(M_MMAP_THRESHOLD, HEAP_BLOCK)
    mallopt(M_TRIM_THRESHOLD, KEEP_FREED)


def _glibc() -> bool:
    # what platform.libc_ver() asks first, without importing platform (3 ms)
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):  # no confstr, or not glibc
        return False


def _user_chose_malloc() -> bool:
    return (
        os.environ.get("ASEGEN_TUNE_MALLOC", "1") == "0"
        or any(name in os.environ for name in _USER_SETTINGS)
        or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")
    )
