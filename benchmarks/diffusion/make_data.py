"""Regenerate the diffusion benchmark datasets with ASE's EMT (spec sections 11-12).

    python benchmarks/diffusion/make_data.py --out data/diffusion [--small] [--seed 0]

No downloads; every structure follows from ``--seed``. Writes asegen HDF5 files
(``asegen.data.write``) into ``--out``:

- ``cuau8.h5``: 150 fcc Cu-Au cells of 8 atoms (2x1x1 conventional, fixed cell
  7.7 x 3.85 x 3.85 Å), Au fraction 0.25 / 0.5 / 0.75 (50 each), random site
  decoration, rattled by 0.1 Å, positions relaxed at fixed cell.
- ``cuau32.h5``: 150 cells of 32 atoms (2x2x2 conventional, 7.7 Å cube), same
  recipe.
- ``slab.h5``: 200 Cu(111) slabs, 3x3 surface, 18 fixed Cu atoms (two layers,
  ``FixAtoms``, a = 3.59 Å, top layer at z = 7.57 Å) plus 9 Cu + 3 Au mobile
  atoms placed at random in the window 9.5-13.0 Å (at least 2.0 Å from any
  atom) and relaxed with the slab fixed; a structure whose mobile atoms leave
  the window is drawn again. ``info["confinement"] = [9.5, 13.0]``.
  ``slab_template.h5`` holds the bare 18-atom slab (the sampling template).
- ``cluster8.h5``: 150 Cu/Au clusters of 8 atoms (2, 4 or 6 Au), no cell,
  ``pbc`` False, placed at random in a sphere and relaxed, centred at the
  origin.
- ``cluster8_13.h5``: 150 gas-phase Cu/Au clusters of 8-13 atoms (25 per size,
  Au fraction uniform in [0, 1]), same recipe.

Every structure carries EMT energy and forces as ``SinglePointCalculator``
labels and ``info["energy_per_atom"]``, ``info["set"]``, ``info["converged"]``;
positions are wrapped into the cell along periodic axes.
Relaxation: FIRE to fmax 0.02 eV/Å, at most 1000 steps; the cell never changes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.geometry import get_distances
from ase.optimize import FIRE

from asegen.data import write

A_BULK = 3.85  # Å, the spec's common cell (7.7 x 3.85 x 3.85 for 8 atoms)
A_SLAB = 3.59  # Å, EMT's Cu lattice constant
WINDOW = (9.5, 13.0)
FMAX, MAX_STEPS = 0.02, 1000
FULL = {"cuau8": 150, "cuau32": 150, "slab": 200, "cluster8": 150, "cluster8_13": 150}
SMALL = dict.fromkeys(FULL, 4) | {"cluster8_13": 6}


def relax(atoms, name):
    """Relax positions with EMT (fixed cell, constraints kept), wrap, label."""
    atoms.calc = EMT()
    converged = FIRE(atoms, logfile=None).run(fmax=FMAX, steps=MAX_STEPS)
    atoms.wrap()  # fractional coordinates in [0, 1) along periodic axes
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    if not atoms.pbc.any():
        atoms.positions -= atoms.get_center_of_mass()  # clusters: centred at 0
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    atoms.info.update(
        set=name, energy_per_atom=energy / len(atoms), converged=bool(converged)
    )
    return atoms


def cuau_bulk(rng, count, repeat, name):
    """Random Cu-Au decorations of fcc supercells, Au fraction 0.25/0.5/0.75."""
    frames = []
    for k in range(count):
        atoms = bulk("Cu", "fcc", a=A_BULK, cubic=True).repeat(repeat)
        n_au = round((0.25, 0.5, 0.75)[k % 3] * len(atoms))
        atoms.numbers[rng.choice(len(atoms), n_au, replace=False)] = 79
        atoms.positions += rng.normal(0.0, 0.1, atoms.positions.shape)
        frames.append(relax(atoms, name))
    return frames


def place(rng, atoms, symbols, draw, min_distance=2.0, tries=2000):
    """Add ``symbols`` one by one at points ``draw()`` at least ``min_distance`` apart.

    Returns ``None`` when an atom finds no place within ``tries`` draws.
    """
    for symbol in symbols:
        for _ in range(tries):
            point = draw()
            if not len(atoms):
                break
            _, d = get_distances(point, atoms.positions, atoms.cell, atoms.pbc)
            if d.min() >= min_distance:
                break
        else:
            return None
        atoms += Atoms(symbol, positions=[point])
    return atoms


def slab_template():
    """The bare 3x3 two-layer Cu(111) slab, all 18 atoms fixed, top layer 7.57 Å."""
    slab = fcc111("Cu", size=(3, 3, 2), a=A_SLAB, vacuum=5.5)
    slab.cell[2, 2] = 20.0
    slab.wrap()
    slab.set_constraint(FixAtoms(indices=range(len(slab))))
    return slab


def slabs(rng, count, name):
    """Cu(111) + 9 Cu + 3 Au mobile atoms relaxed inside the confinement window."""
    template = slab_template()
    cell = template.cell.array

    def draw():
        x, y = rng.random(2)
        return x * cell[0] + y * cell[1] + [0.0, 0.0, rng.uniform(*WINDOW)]

    frames = []
    while len(frames) < count:
        symbols = rng.permutation(["Cu"] * 9 + ["Au"] * 3)
        atoms = place(rng, template.copy(), symbols, draw)
        if atoms is None:
            continue
        atoms = relax(atoms, name)
        z = atoms.positions[len(template) :, 2]
        if z.min() < WINDOW[0] or z.max() > WINDOW[1]:
            continue  # a mobile atom left the window: draw again
        atoms.info["confinement"] = list(WINDOW)
        frames.append(atoms)
    return frames


def clusters(rng, count, sizes, name, au_fractions=None):
    """Cu/Au clusters without cell placed in a sphere and relaxed, centred at 0."""
    frames = []
    for k in range(count):
        n = sizes[k % len(sizes)]
        fraction = au_fractions[k % 3] if au_fractions else rng.random()
        n_au = round(fraction * n)
        symbols = rng.permutation(["Au"] * n_au + ["Cu"] * (n - n_au))
        radius = 1.3 * n ** (1 / 3) + 0.5  # compact: about bulk density

        def draw(radius=radius):
            direction = rng.normal(size=3)
            return (
                direction / np.linalg.norm(direction) * radius * rng.random() ** (1 / 3)
            )

        atoms = None
        while atoms is None:
            atoms = place(rng, Atoms(), symbols, draw, min_distance=2.2)
            radius += 0.2
        frames.append(relax(atoms, name))
    return frames


#: Every set by name, in the order of their random streams ``[seed, index]``.
SETS = {
    "cuau8": lambda rng, n: cuau_bulk(rng, n, (2, 1, 1), "cuau8"),
    "cuau32": lambda rng, n: cuau_bulk(rng, n, (2, 2, 2), "cuau32"),
    "slab": lambda rng, n: slabs(rng, n, "slab"),
    "cluster8": lambda rng, n: clusters(rng, n, [8], "cluster8", (0.25, 0.5, 0.75)),
    "cluster8_13": lambda rng, n: clusters(rng, n, range(8, 14), "cluster8_13"),
}


def build(name, count, seed=0):
    """The first ``count`` structures of set ``name`` as ``main`` makes them."""
    rng = np.random.default_rng([seed, list(SETS).index(name)])
    return SETS[name](rng, count)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/diffusion"))
    parser.add_argument("--small", action="store_true", help="a few structures each")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = SMALL if args.small else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    timings = {}
    for name in SETS:
        start = time.perf_counter()
        frames = build(name, counts[name], args.seed)
        write(args.out / f"{name}.h5", frames)
        timings[name] = round(time.perf_counter() - start, 1)
        e = [f.info["energy_per_atom"] for f in frames]
        stuck = sum(not f.info["converged"] for f in frames)
        print(
            f"{name}: {len(frames)} structures ({stuck} not converged), "
            f"E/atom {min(e):.3f}..{max(e):.3f} eV, {timings[name]} s"
        )
    write(args.out / "slab_template.h5", [slab_template()])
    manifest = {"seed": args.seed, "small": args.small, "counts": counts}
    (args.out / "manifest.json").write_text(
        json.dumps(manifest | {"seconds": timings}, indent=1)
    )
    print(f"total {sum(timings.values()):.1f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
