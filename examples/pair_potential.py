"""A Lennard-Jones energy on asegen graphs, with forces and stress by autograd.

Shows the recipe every asegen model uses: build an ``AtomsGraph``, apply a zero
strain, compute the energy from edge vectors, differentiate once. The result
is compared with ASE's own Lennard-Jones calculator.

    python examples/pair_potential.py [--small]
"""

import argparse

import numpy as np
import torch
from ase.build import bulk
from ase.calculators.lj import LennardJones

from asegen.graph import apply_strain, atoms_to_graph, cell_volume, edge_vectors

SIGMA, EPSILON, CUTOFF = 3.4, 0.0104, 6.0  # argon, eV and Å


def lennard_jones(graph):
    """Energy per structure of the (shifted) LJ pair potential."""
    d = edge_vectors(graph).norm(dim=1)
    shift = 4 * EPSILON * ((SIGMA / CUTOFF) ** 12 - (SIGMA / CUTOFF) ** 6)
    pair = 4 * EPSILON * ((SIGMA / d) ** 12 - (SIGMA / d) ** 6) - shift
    structure_of_edge = graph.batch[graph.edge_index[0]]
    return torch.zeros(graph.n_structures, dtype=d.dtype).index_add_(
        0, structure_of_edge, 0.5 * pair
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a 32-atom cell")
    args = parser.parse_args()
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True) * (
        (2, 2, 2) if args.small else (5, 5, 5)
    )
    atoms.rattle(0.05, seed=0)

    graph = atoms_to_graph(atoms, cutoff=CUTOFF, dtype=torch.float64)
    positions = graph.positions.clone().requires_grad_(True)
    strain = torch.zeros(1, 3, 3, dtype=torch.float64, requires_grad=True)
    energy = lennard_jones(apply_strain(graph.replace(positions=positions), strain))
    dpos, dstrain = torch.autograd.grad(energy.sum(), [positions, strain])
    forces = -dpos.numpy()
    stress = (dstrain / cell_volume(graph.cell)[:, None, None])[0].numpy()

    atoms.calc = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=CUTOFF)
    print(f"{len(atoms)} atoms, {graph.n_edges} edges")
    reference = atoms.get_potential_energy()
    print(f"energy  asegen {energy.item():.8f} eV   ASE {reference:.8f} eV")
    print(f"max |dF| {np.abs(forces - atoms.get_forces()).max():.2e} eV/Å")
    print(f"max |dS| {np.abs(stress - atoms.get_stress(voigt=False)).max():.2e} eV/Å³")


if __name__ == "__main__":
    main()
