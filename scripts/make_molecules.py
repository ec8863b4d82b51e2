"""Build the small-organic-molecule reference dataset (QM9-like) as asegen HDF5.

Pipeline (documented in ``docs/datasets.md``):

1. SMILES from a wheel on the package index, read from inside the wheel file
   (``pip download`` fetches it when ``--wheel`` is not given):

   * ``qm9`` (default): ``qm9pack==1.0.3``, the QM9 table (133,885 GDB-9
     molecules, B3LYP HOMO-LUMO gaps) packaged by an author of QM9;
   * ``moses``: ``molsets==0.3.1``, the MOSES training split (1,584,663 SMILES;
     none of its C/N/O/F-only molecules has fewer than 16 heavy atoms, so it
     only serves the larger ``--max-heavy`` sets of the anchor benchmarks).

2. Keep neutral, closed-shell, single-fragment molecules whose heavy atoms are
   all C, N, O or F, at most ``--max-heavy`` of them; deduplicate by canonical
   SMILES; shuffle with ``--seed``.
3. Per molecule: add hydrogens, embed with RDKit ETKDGv3 (random seed
   ``--seed``), optimise with MMFF94 (at most 2,000 iterations, unconverged
   molecules dropped), drop geometries whose covalent-radius graph (radii x 1.2)
   is not one molecule, and label with GFN2-xTB (tblite) at the MMFF geometry:
   ``info["gap"]`` (HOMO-LUMO gap, eV) and ``info["xtb_energy"]`` (total
   energy, eV). ``--labeller mmff`` skips xTB (only the MMFF energy is kept).
4. Take the first ``--n`` successes, split them train/val/test in that order and
   write ``<prefix>_{train,val,test}.h5`` plus ``<prefix>_manifest.json``
   (settings, versions, counts, timings).

Every structure carries ``info["smiles"]`` (canonical, from the input SMILES),
``n_heavy``, ``gap`` and ``xtb_energy`` (xTB only), ``mmff_energy`` (eV),
``source_index`` and, for QM9, ``qm9_gap`` (B3LYP/6-31G(2df,p) gap of the QM9
DFT geometry, eV). None is called ``energy``: ASE would read that key back from
extxyz as a calculator label. Results do not depend on ``--jobs``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import multiprocessing
import platform
import random
import subprocess
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list
from ase.units import Bohr, Hartree, kcal, mol
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SOURCES = {
    "qm9": {
        "requirement": "qm9pack==1.0.3",
        "wheel": "qm9pack-1.0.3-py3-none-any.whl",
        "members": [f"qm9pack/data/qm9_part{i}.csv" for i in (1, 2, 3)],
    },
    "moses": {
        "requirement": "molsets==0.3.1",
        "wheel": "molsets-0.3.1-py3-none-any.whl",
        "members": ["moses/dataset/data/train.csv.gz"],
    },
}
ELEMENTS = ("C", "N", "O", "F")
SPLITS = ("train", "val", "test")
BOND_FACTOR = 1.2


def fetch_wheel(source: str, directory: Path) -> Path:
    """Return the source's wheel in ``directory``, downloading it with pip if absent."""
    spec = SOURCES[source]
    wheel = directory / spec["wheel"]
    if not wheel.exists():
        directory.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", spec["requirement"]]
        subprocess.run([*command, "--no-deps", "-d", str(directory)], check=True)
    return wheel


def read_smiles(source: str, wheel: Path) -> Iterator[tuple[int, str, float | None]]:
    """Yield ``(source_index, smiles, qm9_gap_eV or None)`` from the wheel's table."""
    csv.field_size_limit(1 << 24)
    with zipfile.ZipFile(wheel) as archive:
        for member in SOURCES[source]["members"]:
            with archive.open(member) as raw:
                stream = gzip.GzipFile(fileobj=raw) if member.endswith(".gz") else raw
                rows = csv.DictReader(io.TextIOWrapper(stream, encoding="utf-8"))
                for row_number, row in enumerate(rows):
                    if source == "qm9":
                        gap = float(row["HOMO_LUMO_gap_au"]) * Hartree
                        yield int(row["Index"]), row["SMILES"], gap
                    else:
                        yield row_number, row["SMILES"], None


def select(smiles: str, max_heavy: int) -> tuple[str, int] | None:
    """Canonical SMILES and heavy-atom count if the molecule passes the filters."""
    from rdkit import Chem

    molecule = Chem.MolFromSmiles(smiles)
    if molecule is None or not 0 < molecule.GetNumHeavyAtoms() <= max_heavy:
        return None
    atoms = list(molecule.GetAtoms())
    if any(a.GetSymbol() not in ELEMENTS for a in atoms):
        return None
    if any(a.GetFormalCharge() or a.GetNumRadicalElectrons() for a in atoms):
        return None
    canonical = Chem.MolToSmiles(molecule)
    if "." in canonical:
        return None
    return canonical, molecule.GetNumHeavyAtoms()


def is_one_molecule(atoms: Atoms, factor: float = BOND_FACTOR) -> bool:
    """Whether atoms closer than ``factor`` x summed covalent radii form one graph."""
    if len(atoms) == 1:
        return True
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=factor))
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(atoms), len(atoms)))
    return connected_components(graph, directed=False)[0] == 1


def build(task: tuple[int, str, int, float | None, int, str]) -> Atoms | str:
    """Embed, optimise and label one molecule; a failure reason string on failure."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    source_index, smiles, n_heavy, qm9_gap, seed, labeller = task
    molecule = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    params.numThreads = 1
    if AllChem.EmbedMolecule(molecule, params) != 0:
        return "embedding_failed"
    if not AllChem.MMFFHasAllMoleculeParams(molecule):
        return "no_mmff_parameters"
    properties = AllChem.MMFFGetMoleculeProperties(molecule, mmffVariant="MMFF94")
    field = AllChem.MMFFGetMoleculeForceField(molecule, properties)
    if field.Minimize(maxIts=2000) != 0:
        return "mmff_not_converged"
    numbers = [a.GetAtomicNum() for a in molecule.GetAtoms()]
    atoms = Atoms(numbers=numbers, positions=molecule.GetConformer().GetPositions())
    atoms.positions -= atoms.get_center_of_mass()
    if not is_one_molecule(atoms):
        return "disconnected_geometry"
    info: dict[str, Any] = {"smiles": smiles, "n_heavy": n_heavy}
    if labeller == "gfn2":
        labels = gfn2_labels(atoms)
        if labels is None:
            return "xtb_failed"
        info.update(labels)
    info["mmff_energy"] = field.CalcEnergy() * kcal / mol
    info["source_index"] = source_index
    if qm9_gap is not None:
        info["qm9_gap"] = qm9_gap
    atoms.info.update(info)
    return atoms


def gfn2_labels(atoms: Atoms) -> dict[str, float] | None:
    """GFN2-xTB (tblite) total energy and HOMO-LUMO gap in eV; None if SCF fails."""
    from tblite.interface import Calculator

    calculator = Calculator("GFN2-xTB", atoms.numbers, atoms.positions / Bohr)
    calculator.set("verbosity", 0)
    try:
        result = calculator.singlepoint()
    except RuntimeError:
        return None
    levels = result.get("orbital-energies")
    occupied = result.get("orbital-occupations") > 1e-6
    gap = (levels[~occupied].min() - levels[occupied].max()) * Hartree
    return {"gap": float(gap), "xtb_energy": float(result.get("energy")) * Hartree}


def candidates(
    source: str, wheel: Path, max_heavy: int, scan: int, seed: int
) -> tuple[list[tuple[int, str, int, float | None]], dict[str, int]]:
    """Filter, deduplicate and shuffle: ``(index, smiles, n_heavy, qm9_gap)`` list."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    kept: dict[str, tuple[int, str, int, float | None]] = {}
    scanned = 0
    for scanned, (index, smiles, gap) in enumerate(read_smiles(source, wheel), 1):
        chosen = select(smiles, max_heavy)
        if chosen is not None and chosen[0] not in kept:
            kept[chosen[0]] = (index, chosen[0], chosen[1], gap)
        if scanned == scan:
            break
    ordered = sorted(kept.values(), key=lambda item: item[0])
    random.Random(seed).shuffle(ordered)
    return ordered, {"scanned": scanned, "passed_filters": len(ordered)}


def split_sizes(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Train/val/test sizes summing to ``n`` (val and test rounded, train the rest)."""
    val, test = (round(n * f / sum(fractions)) for f in fractions[1:])
    return [n - val - test, val, test]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build and write the dataset; return the manifest."""
    from asegen import data

    start = time.perf_counter()
    wheel = args.wheel or fetch_wheel(args.source, args.download_dir)
    todo, counts = candidates(args.source, wheel, args.max_heavy, args.scan, args.seed)
    filtered = time.perf_counter()
    limit = args.n or len(todo)
    tasks = [(*item, args.seed, args.labeller) for item in todo]
    built: list[Atoms] = []
    failures: Counter[str] = Counter()
    with multiprocessing.Pool(args.jobs) as pool:
        for result in pool.imap(build, tasks, chunksize=8):
            if isinstance(result, str):
                failures[result] += 1
            else:
                built.append(result)
                if len(built) == limit:
                    break
        pool.terminate()
    done = time.perf_counter()
    if not built:
        sys.exit(f"no molecule passed ({counts}, failures {dict(failures)})")
    args.out.mkdir(parents=True, exist_ok=True)
    files, first = {}, 0
    for name, size in zip(SPLITS, split_sizes(len(built), args.fractions), strict=True):
        path = args.out / f"{args.prefix}_{name}.h5"
        data.write(path, built[first : first + size], compression="gzip")
        files[name] = {"file": path.name, "molecules": size}
        first += size
    import rdkit

    manifest = {
        "command": " ".join(["scripts/make_molecules.py", *sys.argv[1:]]),
        "source": SOURCES[args.source]["requirement"],
        "max_heavy": args.max_heavy,
        "elements": ["H", *ELEMENTS],
        "seed": args.seed,
        "labeller": "GFN2-xTB (tblite)"
        if args.labeller == "gfn2"
        else "none (MMFF94 energy only)",
        "versions": {"python": platform.python_version(), "rdkit": rdkit.__version__}
        | _tblite_version(args.labeller),
        **counts,
        "attempted": len(built) + sum(failures.values()),
        "failures": dict(sorted(failures.items())),
        "molecules": len(built),
        "splits": files,
        "seconds": {
            "read_and_filter": round(filtered - start, 1),
            "embed_optimise_label": round(done - filtered, 1),
            "total": round(time.perf_counter() - start, 1),
        },
        "jobs": args.jobs,
    }
    path = args.out / f"{args.prefix}_manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _tblite_version(labeller: str) -> dict[str, str]:
    if labeller != "gfn2":
        return {}
    from importlib.metadata import version

    return {"tblite": version("tblite")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Example: python scripts/make_molecules.py --n 1500 "
        "--out examples/data/molecules",
    )
    parser.add_argument(
        "--source", choices=sorted(SOURCES), default="qm9", help="SMILES source"
    )
    parser.add_argument(
        "--wheel", type=Path, help="the source's wheel (default: pip download it)"
    )
    parser.add_argument(
        "--download-dir",
        type=Path,
        default=Path("data-out/downloads"),
        help="where pip puts the wheel when --wheel is not given",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("data-out/molecules"), help="output folder"
    )
    parser.add_argument("--prefix", default="molecules", help="file name prefix")
    parser.add_argument("--n", type=int, default=0, help="molecules to keep, 0 = all")
    parser.add_argument("--max-heavy", type=int, default=9, help="heavy atoms at most")
    parser.add_argument(
        "--scan", type=int, default=0, help="read at most this many SMILES, 0 = all"
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
        "--labeller",
        choices=("gfn2", "mmff"),
        default="gfn2",
        help="gfn2: GFN2-xTB gap and energy (tblite); mmff: MMFF energy only",
    )
    parser.add_argument("--seed", type=int, default=0, help="shuffle and ETKDG seed")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: build the dataset and print its manifest."""
    print(json.dumps(run(parse_args(argv)), indent=2))


if __name__ == "__main__":
    main()
