"""Build the periodic Pd–O reference dataset: CHGNet labels, asegen's Augmenter.

Seeds are built with ASE from approximate literature lattice parameters —
bulk Pd (fcc), PdO (PtS type, P4_2/mmc), PdO2 (rutile), Pd(111) and Pd(100)
slabs with O in hollow sites (bottom layers fixed with ``FixAtoms``; cut at
CHGNet's relaxed Pd lattice parameter), and small Pd_n and Pd_nO_m clusters
in a box — relaxed with CHGNet (cell too for bulk), and grown with
:class:`asegen.augment.Augmenter` (rattle–relax–repeat) into families of
labelled structures: energy, forces and, for bulk, stress.
The relaxed seeds are the first member of every family ("relaxed minima").

Every stage resumes: the relaxed seeds are kept in ``OUT/pdo_seeds.h5``, the
augmentation appends to ``OUT/pdo_augmented.h5`` (rerun the same command to
top it up after an interruption) and the splits and manifest are rewritten
from it. The labeller is CHGNet (``pip install "asegen[data]"``, or the
virtualenv of ``make labelers``); its weights ship inside its wheel, so nothing
is downloaded at run time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc100, fcc111
from ase.cluster import Icosahedron, Octahedron
from ase.constraints import FixAtoms
from ase.spacegroup import crystal

CALCULATOR = {"+chgnet.model.dynamics.CHGNetCalculator": {"use_device": "cpu"}}

# Approximate room-temperature literature values (Å); CHGNet relaxes them.
A_PD = 3.89  # fcc Pd, 3.89 Å (ASE's reference state for Pd)
A_PDO, C_PDO = 3.04, 5.33  # PdO, PtS type (P4_2/mmc, no. 131); X-ray 3.04/5.34
A_PDO2, C_PDO2, U_PDO2 = 4.48, 3.10, 0.30  # PdO2, rutile (P4_2/mnm, no. 136)
VACUUM = 6.0  # Å of vacuum on each side of slabs and clusters
PD_O = 2.0  # Å, Pd–O distance for O placed on cluster faces


def pd_fcc(repeat: tuple[int, int, int], *, cubic: bool) -> Atoms:
    """Fcc Pd, the conventional (4-atom) or primitive cell repeated."""
    return bulk("Pd", "fcc", a=A_PD, cubic=cubic) * repeat


def pdo(repeat: tuple[int, int, int]) -> Atoms:
    """Tetragonal PdO: Pd on 2c (0, 1/2, 0), O on 2e (0, 0, 1/4) of P4_2/mmc."""
    cell = crystal(
        ["Pd", "O"],
        basis=[(0, 0.5, 0), (0, 0, 0.25)],
        spacegroup=131,
        cellpar=[A_PDO, A_PDO, C_PDO, 90, 90, 90],
    )
    cell.info.clear()  # the Spacegroup object is not data
    return cell * repeat


#: A relaxed structure is the PdO of :func:`pdo` within these of the relaxed
#: reference: energy per atom (eV) and fingerprint distance. 54 rattled PdO
#: cells relaxed with the bundled ``pdo`` (atoms and cell, FIRE to 0.05
#: eV/Å) lie within 1.6 meV/atom and 0.30; the nearest other Pd4O4 minimum
#: seen lies 0.14 eV/atom and 0.57 away.
PDO_ENERGY, PDO_DISTANCE = 0.01, 0.4


def on_pdo(energy_above: Any, distance: Any) -> Any:
    """Whether (energy per atom above relaxed PdO, distance from it) is PdO.

    Floats or arrays; within :data:`PDO_ENERGY` and :data:`PDO_DISTANCE`.
    """
    return (np.abs(energy_above) < PDO_ENERGY) & (np.asarray(distance) < PDO_DISTANCE)


def is_pdo(relaxed: Atoms, reference: Atoms) -> bool:
    """Whether ``relaxed`` (energy attached) is the relaxed PdO ``reference``."""
    from asegen.evaluation import fingerprint_distance

    de = relaxed.get_potential_energy() / len(relaxed)
    de -= reference.get_potential_energy() / len(reference)
    return bool(on_pdo(de, fingerprint_distance(relaxed, reference)))


def pdo2(repeat: tuple[int, int, int]) -> Atoms:
    """Rutile PdO2: Pd on 2a (0, 0, 0), O on 4f (u, u, 0) of P4_2/mnm."""
    cell = crystal(
        ["Pd", "O"],
        basis=[(0, 0, 0), (U_PDO2, U_PDO2, 0)],
        spacegroup=136,
        cellpar=[A_PDO2, A_PDO2, C_PDO2, 90, 90, 90],
    )
    cell.info.clear()  # the Spacegroup object is not data
    return cell * repeat


def slab(
    face: str, size: tuple[int, int, int], oxygens: list[tuple[str, int]], a: float
) -> Atoms:
    """Build a Pd(111) or Pd(100) slab, O in hollow sites, the bottom layers fixed.

    ``oxygens`` lists (site, index-of-top-layer-atom) pairs: ``fcc`` on (111),
    ``hollow`` on (100); the site is placed relative to that top-layer atom.
    """
    build = fcc111 if face == "111" else fcc100
    atoms = build("Pd", size=size, a=a, vacuum=VACUUM)
    layers = size[2]
    top = [i for i, tag in enumerate(atoms.get_tags()) if tag == 1]
    first = atoms.positions[top[0]]
    for site, which in oxygens:
        # the site of a one-adsorbate build, shifted to the chosen top atom
        probe = build("Pd", size=size, a=a, vacuum=VACUUM)
        from ase.build import add_adsorbate

        add_adsorbate(probe, "O", 1.2 if face == "111" else 0.9, site)
        shift = atoms.positions[top[which]] - first
        position = probe.positions[-1] + shift
        atoms += Atoms("O", positions=[position])
    atoms.wrap()
    atoms.center(vacuum=VACUUM, axis=2)
    fixed = layers // 2  # 4 layers: bottom 2 fixed; 3 layers: bottom 1
    tags = atoms.get_tags()
    mask = [
        atom.symbol == "Pd" and tag > layers - fixed
        for atom, tag in zip(atoms, tags, strict=True)
    ]
    atoms.set_constraint(FixAtoms(mask=mask))
    atoms.set_tags(0)
    return atoms


def cluster(core: Atoms, n_oxygen: int) -> Atoms:
    """Put O above ``n_oxygen`` well-separated faces of a Pd cluster, in a box."""
    from scipy.spatial import ConvexHull

    atoms = core.copy()
    atoms.set_tags(0)
    centre = atoms.positions.mean(axis=0)
    if n_oxygen:
        hull = ConvexHull(atoms.positions)
        faces = sorted({tuple(sorted(s)) for s in hull.simplices})
        centroids = np.array([atoms.positions[list(f)].mean(axis=0) for f in faces])
        chosen = [0]
        while len(chosen) < n_oxygen:  # farthest-point choice: spread out
            distance = np.min(
                np.linalg.norm(centroids[:, None] - centroids[chosen][None], axis=2),
                axis=1,
            )
            chosen.append(int(np.argmax(distance)))
        for index in chosen:
            corners = atoms.positions[list(faces[index])]
            mid = corners.mean(axis=0)
            normal = mid - centre
            normal /= np.linalg.norm(normal)
            radius = np.linalg.norm(corners - mid, axis=1).max()
            height = np.sqrt(max(PD_O**2 - radius**2, 0.8**2))
            atoms += Atoms("O", positions=[mid + height * normal])
    atoms.cell = np.ptp(atoms.positions, axis=0) + 2 * VACUUM
    atoms.pbc = False
    atoms.center()
    return atoms


def tetrahedron() -> Atoms:
    """Build a Pd4 tetrahedron, edge 2.7 Å."""
    edge = 2.7
    return Atoms(
        "Pd4",
        positions=edge
        / np.sqrt(8)
        * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]),
    )


def seeds(a_slab: float = A_PD) -> list[Atoms]:
    """Build the unrelaxed starting structures, each with ``system`` and ``kind``."""
    made: list[tuple[str, str, Atoms]] = [
        ("Pd-fcc-conv-2x2x2", "bulk", pd_fcc((2, 2, 2), cubic=True)),
        ("Pd-fcc-prim-2x2x2", "bulk", pd_fcc((2, 2, 2), cubic=False)),
        ("PdO-2x2x1", "bulk", pdo((2, 2, 1))),
        ("PdO-2x2x2", "bulk", pdo((2, 2, 2))),
        ("PdO2-rutile-1x1x2", "bulk", pdo2((1, 1, 2))),
        ("PdO2-rutile-2x2x1", "bulk", pdo2((2, 2, 1))),
        ("Pd111-2x2x4", "slab", slab("111", (2, 2, 4), [], a_slab)),
        ("Pd111-2x2x4-O-fcc", "slab", slab("111", (2, 2, 4), [("fcc", 0)], a_slab)),
        (
            "Pd111-3x3x3-2O-fcc",
            "slab",
            slab("111", (3, 3, 3), [("fcc", 0), ("fcc", 4)], a_slab),
        ),
        ("Pd100-2x2x4", "slab", slab("100", (2, 2, 4), [], a_slab)),
        (
            "Pd100-2x2x4-O-hollow",
            "slab",
            slab("100", (2, 2, 4), [("hollow", 0)], a_slab),
        ),
        (
            "Pd100-3x3x3-2O-hollow",
            "slab",
            slab("100", (3, 3, 3), [("hollow", 0), ("hollow", 4)], a_slab),
        ),
        ("Pd4", "cluster", cluster(tetrahedron(), 0)),
        ("Pd4O2", "cluster", cluster(tetrahedron(), 2)),
        ("Pd6", "cluster", cluster(Octahedron("Pd", 2, latticeconstant=A_PD), 0)),
        ("Pd6O4", "cluster", cluster(Octahedron("Pd", 2, latticeconstant=A_PD), 4)),
        ("Pd13", "cluster", cluster(Icosahedron("Pd", 2, latticeconstant=A_PD), 0)),
        ("Pd13O4", "cluster", cluster(Icosahedron("Pd", 2, latticeconstant=A_PD), 4)),
    ]
    images = []
    for name, kind, atoms in made:
        atoms.info.update(system=name, kind=kind)
        images.append(atoms)
    return images


def slab_lattice(pd_bulk: Atoms) -> float:
    """Return the cubic lattice parameter (Å, to 1e-3) of the relaxed 2x2x2 fcc Pd."""
    return round(float(pd_bulk.cell.cellpar()[:3].mean()) / 2, 3)


def relax(images: list[Atoms], calculator: Any, fmax: float, steps: int) -> list[Atoms]:
    """Relax every seed with CHGNet (cell too for bulk); keep its labels."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    relaxed = []
    for atoms in images:
        atoms = atoms.copy()
        atoms.calc = calculator
        target = FrechetCellFilter(atoms) if atoms.pbc.all() else atoms
        optimizer = BFGS(target, logfile=None)
        converged = bool(optimizer.run(fmax=fmax, steps=steps))
        atoms.info.update(seed_converged=converged, seed_steps=optimizer.nsteps)
        results = {
            key: calculator.results[key] for key in ("energy", "forces", "stress")
        }
        if not atoms.pbc.all():
            results.pop("stress")
        atoms.calc = SinglePointCalculator(atoms, **results)
        relaxed.append(atoms)
        print(
            f"relaxed {atoms.info['system']}: {len(atoms)} atoms, "
            f"{optimizer.nsteps} steps, converged {converged}",
            file=sys.stderr,
        )
    return relaxed


def fill_unwritten_chunks(path: Path) -> int:
    """Write the fill value into chunks HDF5 never allocated; return how many.

    Work-around for asegen 0.1.0: a column that first appears after a whole
    chunk of rows (``arrays/tags`` of the slabs, after the bulk cells' atoms)
    leaves those chunks unallocated, and asegen's memory-mapped reader of
    uncompressed files reports that as a damaged file. Those rows are absent
    (their ``present`` flag is false), so the fill value is what they hold.
    """
    import h5py

    written = 0
    with h5py.File(path, "r+") as file:
        sets: list[h5py.Dataset] = []
        file.visititems(
            lambda _, node: (
                sets.append(node)
                if isinstance(node, h5py.Dataset) and node.chunks
                else None
            )
        )
        for dataset in sets:
            rows = dataset.chunks[0]
            offsets: list[int] = []
            dataset.id.chunk_iter(
                lambda c, found=offsets: found.append(c.chunk_offset[0])
            )
            allocated = {offset // rows for offset in offsets}
            for index in range(-(-dataset.shape[0] // rows)):
                if index not in allocated:
                    stop = min((index + 1) * rows, dataset.shape[0])
                    block = np.full(
                        (stop - index * rows, *dataset.shape[1:]),
                        dataset.fillvalue,
                        dtype=dataset.dtype,
                    )
                    dataset[index * rows : stop] = block
                    written += 1
    return written


def plain(images: list[Atoms]) -> list[Atoms]:
    """Drop what ASE's builders leave: tags, space-group kinds, adsorbate info."""
    for atoms in images:
        for name in ("tags", "spacegroup_kinds"):
            if name in atoms.arrays:
                del atoms.arrays[name]
        atoms.info.pop("adsorbate_info", None)
    return images


def describe(images: list[Atoms]) -> dict[str, Any]:
    """Count by kind and system; ranges of atoms, energy per atom, force."""
    atoms_per = [len(a) for a in images]
    per_atom = [a.get_potential_energy() / len(a) for a in images]
    forces = np.concatenate([a.get_forces() for a in images])
    return {
        "structures": len(images),
        "relaxed_minima": sum(a.info["parent"] == "root" for a in images),
        "by_kind": dict(sorted(Counter(a.info["kind"] for a in images).items())),
        "by_system": dict(sorted(Counter(a.info["system"] for a in images).items())),
        "atoms": [min(atoms_per), max(atoms_per)],
        "energy_per_atom_eV": [round(min(per_atom), 3), round(max(per_atom), 3)],
        "max_force_eV_per_A": round(float(np.linalg.norm(forces, axis=1).max()), 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build seeds, relax, augment, split; return the manifest."""
    import chgnet

    from asegen import data
    from asegen.augment import run_config
    from asegen.augment.specs import build_calculator
    from asegen.distil import split_by_branch, write_splits
    from asegen.distil.config import AUGMENT

    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    seeds_path = args.out / "pdo_seeds.h5"
    augmented = args.out / "pdo_augmented.h5"
    if seeds_path.exists():
        relaxed = data.read(seeds_path)
        names = [a.info["system"] for a in seeds()]
        if [a.info["system"] for a in relaxed] != names:
            sys.exit(f"{seeds_path} holds other seeds; remove it or choose --out")
    else:
        # bulk Pd first: the slabs are cut at CHGNet's own lattice parameter,
        # so that they are not strained relative to the labeller's bulk
        calculator = build_calculator(CALCULATOR)
        first = relax(seeds()[:1], calculator, args.seed_fmax, args.seed_steps)
        rest = seeds(a_slab=slab_lattice(first[0]))[1:]
        relaxed = first + relax(rest, calculator, args.seed_fmax, args.seed_steps)
        data.write(seeds_path.with_suffix(".tmp.h5"), relaxed)
        seeds_path.with_suffix(".tmp.h5").replace(seeds_path)
    a_slab = slab_lattice(relaxed[0])
    relaxed_at = time.perf_counter()
    per_family = max(1, -(-args.n_target // len(relaxed)))
    config = {
        "data": {"input": str(seeds_path), "output": str(augmented)},
        "config": {
            "n_per_structure": per_family,
            **AUGMENT,
            "T": args.temperature,
            "seed": args.seed,
            "max_relax_steps": args.max_relax_steps,
        },
        "model": {"calculator": CALCULATOR},
    }
    repaired = fill_unwritten_chunks(augmented) if augmented.exists() else 0
    before = len(data.read(augmented)) if augmented.exists() else 0
    stats = run_config(config, workers=args.jobs, progress=True)
    augmented_at = time.perf_counter()
    # seconds summed over every run into OUT (an interrupted run resumes)
    ledger = args.out / "pdo_timings.json"
    spent = json.loads(ledger.read_text()) if ledger.exists() else {}
    for stage, seconds in (
        ("seeds", relaxed_at - start),
        ("augment", augmented_at - relaxed_at),
    ):
        spent[stage] = round(spent.get(stage, 0.0) + seconds, 1)
    spent["runs"] = spent.get("runs", 0) + 1
    ledger.write_text(json.dumps(spent, indent=2) + "\n")
    repaired += fill_unwritten_chunks(augmented)
    images = plain(data.read(augmented))
    splits = split_by_branch(images, args.fractions, args.seed)
    files = write_splits(images, splits, args.out, args.prefix)
    if args.bundle:
        keep = [a.info["id"].split("-")[1] for a in images]
        small = [
            (a, s)
            for a, s, k in zip(images, splits, keep, strict=True)
            if int(k) < args.bundle_per_family
        ]
        bundle_files = write_splits(
            [a for a, _ in small], [s for _, s in small], args.bundle, args.prefix
        )
    manifest = {
        "command": " ".join(["scripts/make_pdo.py", *sys.argv[1:]]),
        "labeller": "CHGNet (pretrained weights shipped in the chgnet wheel)",
        "calculator": CALCULATOR,
        "chgnet_model": _chgnet_model_version(),
        "versions": {
            "python": platform.python_version(),
            "chgnet": chgnet.__version__,
            "torch": _version("torch"),
            "ase": _version("ase"),
            "asegen": _version("asegen"),
        },
        "lattice_parameters_A": {
            "Pd_fcc_a": A_PD,
            "PdO_a": A_PDO,
            "PdO_c": C_PDO,
            "PdO2_a": A_PDO2,
            "PdO2_c": C_PDO2,
            "PdO2_u": U_PDO2,
            "slabs_a_CHGNet": a_slab,
        },
        "seed_relaxation": {
            "optimizer": "BFGS (FrechetCellFilter for bulk)",
            "fmax": args.seed_fmax,
            "max_steps": args.seed_steps,
            "seeds": {
                a.info["system"]: {
                    "atoms": len(a),
                    "steps": int(a.info["seed_steps"]),
                    "converged": bool(a.info["seed_converged"]),
                }
                for a in relaxed
            },
        },
        "augment": config["config"],
        "augment_stats": {
            "written_this_run": stats.accepted,
            "calls_this_run": stats.calls,
            "rejected_this_run": dict(stats.rejected),
            "summary": stats.summary(),
            "existing_before_this_run": before,
            "unallocated_chunks_filled": repaired,
        },
        "split_rule": "by branch: relaxed seeds in train; each level-1 child "
        "and all its descendants in one split",
        "fractions": list(args.fractions),
        **describe(images),
        "splits": files,
        "seconds_this_run": {
            "seeds": round(relaxed_at - start, 1),
            "augment": round(augmented_at - relaxed_at, 1),
            "total": round(time.perf_counter() - start, 1),
        },
        "seconds_all_runs": spent,
        "jobs": args.jobs,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    path = args.out / f"{args.prefix}_manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    if args.bundle:
        small_images = [a for a, _ in small]
        bundle = manifest | describe(small_images)
        bundle["splits"] = bundle_files
        bundle["bundle_of"] = {
            "structures": len(images),
            "rule": f"the first {args.bundle_per_family} members (slots) of every "
            "family, in the full set's splits",
        }
        (args.bundle / f"{args.prefix}_manifest.json").write_text(
            json.dumps(bundle, indent=2) + "\n"
        )
    return manifest


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _chgnet_model_version() -> str:
    from chgnet.model import CHGNet

    return CHGNet.load(verbose=False).version or "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Example: OMP_NUM_THREADS=1 python scripts/make_pdo.py "
        "--n-target 3600 --out data-out/pdo",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("data-out/pdo"), help="output folder"
    )
    parser.add_argument("--prefix", default="pdo", help="file name prefix")
    parser.add_argument(
        "--n-target",
        type=int,
        default=3600,
        help="structures in all, relaxed seeds included (rounded up to a "
        "multiple of the number of seeds)",
    )
    parser.add_argument("--seed", type=int, default=0, help="augment and split seed")
    parser.add_argument(
        "--temperature", type=float, default=500.0, help="augment T (K)"
    )
    parser.add_argument(
        "--max-relax-steps", type=int, default=8, help="augment relaxation steps"
    )
    parser.add_argument(
        "--seed-fmax", type=float, default=0.05, help="seed relaxation fmax (eV/Å)"
    )
    parser.add_argument(
        "--seed-steps", type=int, default=200, help="seed relaxation steps at most"
    )
    parser.add_argument(
        "--fractions",
        type=float,
        nargs=3,
        default=(0.8, 0.1, 0.1),
        metavar=("TRAIN", "VAL", "TEST"),
        help="split fractions",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="augment worker processes (--workers)"
    )
    parser.add_argument(
        "--bundle", type=Path, help="also write a small copy of the splits here"
    )
    parser.add_argument(
        "--bundle-per-family",
        type=int,
        default=20,
        help="members (first slots) per family in the small copy",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: build the dataset and print its manifest."""
    manifest = run(parse_args(argv))
    print(json.dumps({k: manifest[k] for k in ("structures", "splits")}, indent=2))


if __name__ == "__main__":
    main()
