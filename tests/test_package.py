"""Import-time behaviour of the package."""

import os
import platform
import subprocess
import sys

import pytest

SCRIPT = (
    "import os, sys, asegen; "
    "print(os.environ.get('THP_MEM_ALLOC_ENABLE'), 'torch' in sys.modules)"
)


@pytest.mark.parametrize(
    ("before", "preset", "expected"),
    [
        ("", None, "1 False"),  # asegen first: huge pages for large tensors
        ("", "0", "0 False"),  # the user's choice wins
        ("import torch; ", None, "None True"),  # too late to matter: left alone
    ],
)
def test_import_turns_on_huge_pages_only_before_torch(before, preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if preset is not None:
        env["THP_MEM_ALLOC_ENABLE"] = preset
    done = subprocess.run(
        [sys.executable, "-c", before + SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert done.stdout.split("\n")[0] == expected


FAULTS = (
    "import resource, numpy as np, asegen\n"
    "def cycle():\n"
    "    keep = [np.ones(1 << 17) for _ in range(40)]  # 40 blocks of 1 MiB\n"
    "    del keep\n"
    "cycle()\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "for _ in range(4):\n"
    "    cycle()\n"
    "print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4)\n"
)


def page_faults_per_cycle(**settings: str) -> float:
    """Page faults of allocating and freeing 40 MiB in MiB blocks, after import."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("ASEGEN_TUNE_MALLOC", None)
    done = subprocess.run(
        [sys.executable, "-c", FAULTS],
        capture_output=True,
        text=True,
        env={**env, **settings},
        check=True,
    )
    return float(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_import_keeps_freed_memory_for_the_next_allocation():
    tuned = page_faults_per_cycle()
    # 40 MiB is 10,240 pages of 4 KiB, faulted in again when the heap is trimmed
    assert page_faults_per_cycle(ASEGEN_TUNE_MALLOC="0") > 5000
    assert page_faults_per_cycle(MALLOC_TRIM_THRESHOLD_="0") > 5000  # user's wins
    assert tuned < 500
