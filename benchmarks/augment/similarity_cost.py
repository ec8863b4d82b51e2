"""Cost of one similarity test against K family members (D12).

The anchor loops over members in Python, one NumPy expression per member
(``mean_a |r_a(s)·M − r_a(m)|``); asegen compares against all members in one
vectorised pass over lattice coordinates with the minimum image. 32-atom Cu
cells, 1 thread, best of 5 repeats.

    OMP_NUM_THREADS=1 python benchmarks/augment/similarity_cost.py
"""

from __future__ import annotations

import os
import timeit

import numpy as np
from make_inputs import cells

from asegen.augment.operations import fractional, similar_to_any


def anchor_style(candidate, restore, members, threshold):
    """The anchor's test: a Python loop, raw Cartesian positions."""
    mapped = candidate @ restore
    for member in members:
        if np.linalg.norm(mapped - member, axis=1).mean() < threshold:
            return True
    return False


def main():
    atoms = cells(2, 1)[0]
    cell = atoms.cell.array
    rng = np.random.default_rng(0)
    print(
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} "
        "python benchmarks/augment/similarity_cost.py`\n"
    )
    print("| members K | anchor loop ms | asegen vectorised ms | ratio |")
    print("|---|---|---|---|")
    for count in (10, 100, 1000, 10000):
        members = atoms.positions + rng.normal(0, 0.3, (count, len(atoms), 3))
        fractions = np.array([fractional(m, cell) for m in members])
        candidate = atoms.positions + rng.normal(0, 0.3, atoms.positions.shape)
        restore = np.eye(3)

        def loop(candidate=candidate, members=members, restore=restore):
            return anchor_style(candidate, restore, members, 0.1)

        def vector(candidate=candidate, fractions=fractions):
            frac = fractional(candidate, cell)
            return similar_to_any(frac, cell, atoms.pbc, fractions, 0.1)

        assert not loop()  # both scan every member
        assert not vector()
        number = max(1, 2000 // count)
        t_loop = min(timeit.repeat(loop, number=number, repeat=5)) / number
        t_vec = min(timeit.repeat(vector, number=number, repeat=5)) / number
        print(
            f"| {count} | {1e3 * t_loop:.3f} | {1e3 * t_vec:.3f} | "
            f"{t_loop / t_vec:.1f}x |"
        )


if __name__ == "__main__":
    main()
