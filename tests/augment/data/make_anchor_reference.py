"""Regenerate ``anchor_emt.xyz``/``anchor_emt.json`` with augment-atoms 0.2.0.

Run with the interpreter of a virtualenv that has augment-atoms 0.2.0 (never
asegen's), from anywhere:

    /path/to/venv/bin/python tests/augment/data/make_anchor_reference.py

Inputs: a strained, rattled fcc Cu 2x2x1 cell (16 atoms, periodic) and a
rattled Cu13 cluster (no cell); EMT; ``cell_sigma: null`` so that asegen's
anchor-stream mode can reproduce the output. The JSON records the settings and
the anchor's calculator calls (counted by ``benchmarks/augment/counting.py``).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import ase.io
import numpy as np
import yaml
from ase.build import bulk
from ase.cluster import Icosahedron

HERE = Path(__file__).resolve().parent
COUNTING = HERE.parents[2] / "benchmarks" / "augment"
SETTINGS = {
    "n_per_structure": 6,
    "T": 300,
    "beta": 0.5,
    "sigma_range": [0.01, 0.1],
    "seed": 7,
    "units": "eV",
}


def inputs():
    rng = np.random.default_rng(3)
    cell = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1))
    cell.set_cell(
        cell.cell.array @ (np.eye(3) + rng.uniform(-0.01, 0.01, (3, 3))),
        scale_atoms=True,
    )
    cell.positions += rng.normal(0.0, 0.03, cell.positions.shape)
    cluster = Icosahedron("Cu", 2, latticeconstant=3.61)
    cluster.positions += rng.normal(0.0, 0.03, cluster.positions.shape)
    return [cell, cluster]


def main():
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        ase.io.write(folder / "inputs.xyz", inputs())
        config = {
            "data": {"input": "inputs.xyz", "output": "anchor.xyz"},
            "config": SETTINGS,
            "model": {"calculator": "+counting.emt()"},
        }
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        env = {
            **os.environ,
            "PYTHONPATH": str(COUNTING),
            "AUGMENT_COUNTS": str(folder / "counts.json"),
            "OMP_NUM_THREADS": "1",
        }
        executable = Path(sys.executable).parent / "augment-atoms"
        subprocess.run(
            [executable, "config.yaml"],
            cwd=folder,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        calls = json.loads((folder / "counts.json").read_text())["calls"]
        shutil.copy(folder / "inputs.xyz", HERE / "anchor_inputs.xyz")
        shutil.copy(folder / "anchor.xyz", HERE / "anchor_emt.xyz")
    record = {"settings": SETTINGS, "calls": calls, "augment_atoms": "0.2.0"}
    (HERE / "anchor_emt.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
