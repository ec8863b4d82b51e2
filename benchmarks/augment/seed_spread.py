"""Is the spread of the generated set the anchor's? Same semantics, other seeds.

With ``cell_sigma: null`` asegen's decisions are augment-atoms', so any
difference in spread comes from the random streams. This script takes an
augment-atoms output (from ``compare_anchor.py``, set ``cu32:null``), then

1. reruns asegen with the anchor's streams (``anchor_streams.py``)
   and reports the largest position difference and the calls made;
2. runs asegen's own per-slot streams for several seeds and reports the
   spread (std over new structures) of E/atom and of max|F| for each.

    OMP_NUM_THREADS=1 python benchmarks/augment/seed_spread.py \
        bench-out/augment/cu32-null/augment-atoms_0.2.0/0
"""

from __future__ import annotations

import sys
from pathlib import Path

import ase.io
import numpy as np
from anchor_streams import AnchorStreams  # beside this script
from ase.calculators.emt import EMT

from asegen.augment import Augmenter

SETTINGS = {"n_per_structure": 20, "T": 300, "beta": 0.5, "sigma_range": (0.01, 0.1)}


def spread(frames):
    new = [a for a in frames if int(a.info["level"]) > 0]
    energy = [a.get_potential_energy() / len(a) for a in new]
    fmax = [np.linalg.norm(a.get_forces(), axis=1).max() for a in new]
    return np.std(energy), np.std(fmax)


def main(folder):
    folder = Path(folder)
    images = ase.io.read(folder / "cu32_seeds.xyz", ":")
    anchor = ase.io.read(folder / "out.xyz", ":")
    replay = Augmenter(EMT(), seed=42, **SETTINGS)
    replay._streams = AnchorStreams(42)
    ours = list(replay.run(images))
    shift = max(
        np.abs(a.positions - b.positions).max()
        for a, b in zip(ours, anchor, strict=True)
    )
    print(f"`python benchmarks/augment/seed_spread.py {folder}`\n")
    print(
        f"anchor streams: {len(ours)} structures, largest |Δr| to augment-atoms "
        f"{shift:.1e} Å, {replay.stats.calls} calculator calls\n"
    )
    print("| run | std E/atom eV | std max\\|F\\| eV/Å |")
    print("|---|---|---|")
    print("| augment-atoms 0.2.0, seed 42 | {:.4f} | {:.3f} |".format(*spread(anchor)))
    print("| asegen, anchor streams, seed 42 | {:.4f} | {:.3f} |".format(*spread(ours)))
    rows = []
    for seed in (42, 1, 2, 3, 4):
        rows.append(spread(list(Augmenter(EMT(), seed=seed, **SETTINGS).run(images))))
        print("| asegen, seed {} | {:.4f} | {:.3f} |".format(seed, *rows[-1]))
    print("| asegen, mean of the 5 seeds | {:.4f} | {:.3f} |".format(*np.mean(rows, 0)))


if __name__ == "__main__":
    main(sys.argv[1])
