"""Import-time behaviour of the package, and the explicit allocator tuning."""

import json
import os
import platform
import subprocess
import sys

import pytest

HELPERS = """\
import importlib, json, os, pkgutil, subprocess, sys, warnings
import numpy as np

def state():
    return dict(os.environ), list(sys.path), list(warnings.filters)

def rss_mb():
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20

def retained_mb():
    '''Resident memory left after allocating and freeing 256 MiB in MiB blocks.'''
    before = rss_mb()
    blocks = [np.ones(1 << 17) for _ in range(256)]
    del blocks
    return rss_mb() - before
"""
PRELUDE = f"HELPERS = {HELPERS!r}\nexec(HELPERS)\n"  # children can run HELPERS too
KEPT = 200  # MB of the 256 freed that a tuned heap keeps resident
RETURNED = 50  # MB at most left by glibc's own behaviour
THP = "THP_MEM_ALLOC_ENABLE"
HEAP = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
needs_glibc = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="glibc's mallopt and /proc"
)


def probe(code: str, *args: str, stdin: str = "", **settings: str) -> list:
    """Run ``code`` after HELPERS in a fresh Python, no tuning in its environment."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MALLOC_")
        and k not in (THP, "ASEGEN_TUNE_MALLOC", "GLIBC_TUNABLES")
    }
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + code, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**env, **settings},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


IMPORTS = """
initial = set(sys.modules)
if sys.argv[1] == 'asegen':  # the two light packages first, then every module
    import asegen, asegen.testing
    for module in pkgutil.walk_packages(asegen.__path__, 'asegen.'):
        importlib.import_module(module.name)
else:  # the control: the same third-party modules, in the same order
    for name in json.loads(sys.stdin.read()):
        try:
            importlib.import_module(name)
        except Exception:  # a few entries of sys.modules are not importable names
            pass
import h5py, threadpoolctl, torch
loaded = [n for n in sys.modules if n not in initial and n.split('.')[0] != 'asegen']
settings = {  # what a library keeps process-wide: thread pools, defaults, modes
    'torch threads': [torch.get_num_threads(), torch.get_num_interop_threads()],
    'torch defaults': [str(torch.get_default_dtype()), torch.is_grad_enabled(),
                       torch.get_float32_matmul_precision(), torch.is_anomaly_enabled(),
                       torch.are_deterministic_algorithms_enabled()],
    'blas threads': sorted((p['internal_api'], p['num_threads'])
                           for p in threadpoolctl.threadpool_info()),
    'h5py config': [h5py.get_config().track_order, h5py.get_config().complex_names,
                    h5py.get_config().bool_names],
    'numpy errors': np.geterr(),
}
print(json.dumps([loaded, repr(state()), repr(settings), retained_mb()]))
"""


@needs_glibc
def test_importing_asegen_changes_nothing_process_wide():
    loaded, state, settings, retained = probe(IMPORTS, "asegen")
    assert {"torch", "h5py"} <= set(loaded)  # the settings below are after asegen
    control = probe(IMPORTS, "control", stdin=json.dumps(loaded))
    # its dependencies (scipy, ase) add warning filters; asegen itself adds nothing
    assert state == control[1], "os.environ, sys.path or warning filters changed"
    assert settings == control[2], "thread pools, torch, h5py or numpy settings"
    assert retained < RETURNED  # freed memory goes back to the system


TUNE = """
before = state()
import asegen
tuning = asegen.tune_allocator()
retained = retained_mb()
child = subprocess.run([sys.executable, '-c', HELPERS + 'print(retained_mb())'],
                       capture_output=True, text=True, check=True).stdout
changed = sorted(k for k, v in os.environ.items() if before[0].get(k) != v)
print(json.dumps([list(tuning), retained, float(child), changed]))
"""


@needs_glibc
def test_tune_allocator_keeps_freed_memory_here_and_in_child_processes():
    tuning, retained, child, changed = probe(TUNE)
    assert tuning == [True, True, ""]
    assert retained > KEPT
    assert child > KEPT  # exported: processes started afterwards are tuned too
    assert changed == sorted([THP, *HEAP])


@needs_glibc
@pytest.mark.parametrize(
    ("settings", "applied", "reason"),
    [
        ({"ASEGEN_TUNE_MALLOC": "0"}, [], "ASEGEN_TUNE_MALLOC=0"),
        ({THP: "0"}, HEAP, "THP_MEM_ALLOC_ENABLE is set already"),
        ({"MALLOC_TRIM_THRESHOLD_": "0"}, [THP], "MALLOC_TRIM_THRESHOLD_ set already"),
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, [THP], "GLIBC_TUNABLES"),
    ],
)
def test_the_opt_out_and_the_users_settings_win(settings, applied, reason):
    tuning, retained, child, changed = probe(TUNE, **settings)
    heap = HEAP[0] in applied
    assert tuning[:2] == [THP in applied, heap]
    assert reason in tuning[2]
    assert changed == sorted(applied)
    assert (retained > KEPT) == heap
    assert (child > KEPT) == heap


@needs_glibc
def test_tune_allocator_after_torch_leaves_huge_pages_alone():
    # what tune_allocator looks for (a real import of torch takes 2 s)
    torch = "sys.modules['torch'] = type(sys)('torch')\n"
    tuning, retained, _, changed = probe(torch + TUNE)
    assert tuning == [
        False,
        True,
        "huge pages: torch is imported already; call this before import torch",
    ]
    assert changed == HEAP
    assert retained > KEPT


CLI = """
from asegen.cli import main
main(sys.argv[1:], standalone_mode=False)
print(json.dumps([os.environ.get('THP_MEM_ALLOC_ENABLE'), 'torch' in sys.modules,
                  retained_mb()]))
"""


@needs_glibc
def test_the_command_tunes_before_a_subcommand_imports_torch():
    huge_pages, torch, retained = probe(CLI, "info", "--help")
    assert (huge_pages, torch) == ("1", False)
    assert retained > KEPT
    huge_pages, _, retained = probe(CLI, "--help")  # instant: nothing to tune for
    assert huge_pages is None
    assert retained < RETURNED
