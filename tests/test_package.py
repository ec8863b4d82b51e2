"""Import-time behaviour of the package."""

import os
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
