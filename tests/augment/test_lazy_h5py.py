"""``asegen augment`` loads h5py only for HDF5 inputs and outputs."""

import json
import subprocess
import sys

import ase.io
import pytest
from augment_helpers import write_config

PROBE = """
import json, sys
import asegen.augment
imported = 'h5py' in sys.modules
from asegen.cli import main
main(['augment', 'config.yaml'], standalone_mode=False)
main(['augment', 'config.yaml'], standalone_mode=False)  # resumed: nothing to do
print(json.dumps([imported, 'h5py' in sys.modules]))
"""


def modules_after_augment(folder):
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize(("output", "loaded"), [("out.xyz", False), ("out.h5", True)])
def test_h5py_is_loaded_only_for_an_hdf5_output(workdir, output, loaded):
    write_config(workdir, output=output, n_per_structure=2, max_relax_steps=2)
    assert modules_after_augment(workdir) == [False, loaded]


def test_an_hdf5_input_loads_it(workdir, inputs):
    ase.io.write(workdir / "inputs.xyz", inputs[:1])
    subprocess.run(
        [sys.executable, "-m", "asegen", "convert", "inputs.xyz", "in.h5"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    config = write_config(workdir, n_per_structure=2, max_relax_steps=2)
    config.write_text(config.read_text().replace("inputs.xyz", "in.h5"))
    assert modules_after_augment(workdir) == [False, True]
