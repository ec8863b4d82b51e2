"""Check the physics of an ASE calculator with asegen's test kit.

``asegen.testing.check_calculator`` asserts what every potential must
satisfy: forces and stress equal to finite-difference derivatives of the
energy, invariance under rotations, lattice translations, atom permutations
and another choice of cell, one evaluation per geometry, and batched calls
equal to single ones. Here it checks the bundled Pd-O force field (``pdo``,
in float64 so that finite differences are meaningful) on Pd-O bulk, alloy,
slab and cluster structures, and ASE's own EMT on the kit's defaults.

    python examples/check_calculator.py [--small]
"""

import argparse
import time

from ase.calculators.emt import EMT

from asegen.calculators import ALIGNNCalculator
from asegen.testing import (
    STRUCTURES,
    check_calculator,
    make_alloy,
    make_bulk,
    make_cluster,
    make_slab,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="bulk and cluster only")
    args = parser.parse_args()
    pdo = {
        "bulk": lambda: make_bulk("Pd"),
        "alloy": lambda: make_alloy(("Pd", "O")),
        "slab": lambda: make_slab("Pd"),
        "cluster": lambda: make_cluster("Pd"),
    }
    emt = dict(STRUCTURES)
    if args.small:
        pdo = {name: pdo[name] for name in ("bulk", "cluster")}
        emt = {name: emt[name] for name in ("bulk", "cluster")}

    for name, calc, structures in (
        ("pdo (float64)", ALIGNNCalculator.load("pdo", dtype="float64"), pdo),
        ("EMT", EMT(), emt),
    ):
        start = time.perf_counter()
        check_calculator(calc, structures=structures, tolerance="float64")
        print(f"{name}: every check passed on {', '.join(structures)} "
              f"({time.perf_counter() - start:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
