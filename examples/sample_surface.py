"""Put O atoms on a Pd(111) slab with the bundled surface generator, then relax them.

``DiffusionGenerator.load("pdo-surface")`` is the generator of O adsorbates
on Pd slabs bundled with asegen (briefly trained; ``asegen info pdo-surface``
prints its card). The slab is the template: its atoms stay exactly where
they are and the O atoms are added in the model's window above its highest
atom, so no window is given. Each sample is relaxed with the bundled force
field ``pdo`` (the slab fixed). The command line does the same:
``asegen sample --template slab.xyz --formula O2 -n 4 -o o_on_pd.xyz``.

    python examples/sample_surface.py [-n 4] [--small]
"""

import argparse

import numpy as np
from ase.build import fcc111
from ase.optimize import FIRE

from asegen.calculators import ALIGNNCalculator
from asegen.diffusion import DiffusionGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4, help="samples")
    parser.add_argument("--small", action="store_true", help="2 samples, 20 steps")
    args = parser.parse_args()
    n, steps, relax_steps = (2, 20, 20) if args.small else (args.n, 100, 100)

    slab = fcc111("Pd", size=(3, 3, 3), a=3.95, vacuum=7.0)
    top = slab.positions[:, 2].max()
    generator = DiffusionGenerator.load("pdo-surface", device="cpu")
    samples = generator.sample(n, template=slab, formula="O2", steps=steps, seed=0)
    calc = ALIGNNCalculator.load("pdo", device="cpu")
    lo, hi = np.asarray(samples[0].info["confinement"]) - top
    print(f"window: {lo:+.2f} to {hi:+.2f} Å above the top Pd layer")
    for k, atoms in enumerate(samples):
        heights = atoms.positions[len(slab) :, 2] - top
        atoms.calc = calc  # the slab keeps its FixAtoms: only the O atoms move
        FIRE(atoms, logfile=None).run(fmax=0.05, steps=relax_steps)
        shortest = atoms.get_distances(-1, range(len(slab)), mic=True).min()
        print(f"sample {k}: O at {np.round(heights, 2).tolist()} Å above the top, "
              f"relaxed E = {atoms.get_potential_energy():.3f} eV, "
              f"last O to nearest Pd {shortest:.2f} Å")  # fmt: skip


if __name__ == "__main__":
    main()
