"""Random-access read throughput of asegen HDF5 against ASE db and extxyz.

Builds N random structures of 10-50 atoms with energy, forces and stress
(seeded), writes them as asegen HDF5, an ASE database (SQLite) and extxyz, and
measures write time, file size, single random reads (HDF5 through H5Dataset,
ASE db through ``db.get_atoms(id=...)``, extxyz through
``ase.io.read(path, index=k)`` on fewer reads since each one scans the file)
batches of 64 random indices in one process (``H5Dataset.__getitems__``, a loop
of ``get_atoms``), and shuffled batches of 64 through
``torch.utils.data.DataLoader`` with 2 workers and ``collate_fn=list``.
Prints a Markdown table and the command line that produced it.

    python benchmarks/data_io.py                      # 100,000 structures
    python benchmarks/data_io.py --n-structures 2000  # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator


def structures(count, seed):
    """Yield the same ``count`` random labelled structures for every seed."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(10, 51))
        length = (n * 12.0) ** (1 / 3)  # about 12 Å^3 per atom
        atoms = Atoms(
            numbers=rng.integers(1, 84, n),
            positions=rng.uniform(0, length, (n, 3)),
            cell=np.diag([length] * 3),
            pbc=True,
        )
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=float(rng.normal(-3.0 * n, 1.0)),
            forces=rng.normal(size=(n, 3)),
            stress=rng.normal(scale=0.01, size=6),
        )
        yield atoms


class AseDbDataset:
    """A map-style dataset over an ASE database, one connection per process."""

    def __init__(self, path, length):
        self.path, self.length = str(path), length
        self._db, self._pid = None, None

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        import ase.db

        if self._pid != os.getpid():
            self._db, self._pid = ase.db.connect(self.path), os.getpid()
        return self._db.get_atoms(id=int(index) + 1)


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def write_files(folder, count, seed, *, reuse):
    """Write the three files; with ``reuse``, keep existing ones (no timings)."""
    import ase.db
    import ase.io

    from asegen.data import write

    paths = {
        "hdf5": folder / "data.h5",
        "db": folder / "data.db",
        "extxyz": folder / "data.extxyz",
    }
    if reuse and all(path.exists() for path in paths.values()):
        return paths, None
    seconds = {"hdf5": timed(lambda: write(paths["hdf5"], structures(count, seed)))[0]}

    def write_db():
        with ase.db.connect(paths["db"], append=False) as db:
            for atoms in structures(count, seed):
                db.write(atoms)

    seconds["db"] = timed(write_db)[0]
    seconds["extxyz"] = timed(
        lambda: ase.io.write(paths["extxyz"], structures(count, seed), format="extxyz")
    )[0]
    return paths, seconds


def per_second(function, items):
    """Calls of ``function`` on each item per second (results are dropped)."""
    start = time.perf_counter()
    for item in items:
        function(item)
    return len(items) / (time.perf_counter() - start)


def direct_reads(paths, count, args):
    """Single random reads and batches of 64 random indices, in this process."""
    import ase.db
    import ase.io

    from asegen.data import H5Dataset

    rng = np.random.default_rng(args.seed + 1)
    singles = rng.integers(0, count, args.reads).tolist()
    batches = rng.integers(0, count, (args.reads // 64, 64)).tolist()
    dataset = H5Dataset(paths["hdf5"])
    dataset[0]  # opening the file is paid once per process
    db = ase.db.connect(paths["db"])
    db.get_atoms(id=1)
    quarter = args.reads // 4  # ASE db is slow: fewer reads give the same precision

    def db_batch(batch):
        return [db.get_atoms(id=k + 1) for k in batch]

    return {
        ("single", "hdf5"): per_second(dataset.__getitem__, singles),
        ("single", "db"): per_second(
            lambda k: db.get_atoms(id=k + 1), singles[:quarter]
        ),
        ("single", "extxyz"): per_second(
            lambda k: ase.io.read(paths["extxyz"], index=k),
            singles[: args.extxyz_reads],
        ),
        ("batch", "hdf5"): 64 * per_second(dataset.__getitems__, batches),
        ("batch", "db"): 64 * per_second(db_batch, batches[: len(batches) // 4]),
    }


def loader_reads(dataset, n_batches, workers, seed):
    """Structures per second through DataLoader(batch_size=64, shuffle=True)."""
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(
        dataset,
        batch_size=64,
        shuffle=True,
        num_workers=workers,
        collate_fn=list,
        generator=torch.Generator().manual_seed(seed),
    )

    def consume():
        seen = 0
        for batch_index, batch in enumerate(loader):
            seen += len(batch)
            if batch_index + 1 == n_batches:
                break
        return seen

    seconds, seen = timed(consume)
    return seen / seconds


def machine():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores (nproc), {model}, Python {platform.python_version()}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-structures", type=int, default=100_000)
    parser.add_argument(
        "--reads",
        type=int,
        default=20_000,
        help="single HDF5 reads (ASE db: a quarter)",
    )
    parser.add_argument(
        "--extxyz-reads", type=int, default=5, help="single extxyz reads"
    )
    parser.add_argument(
        "--loader-batches",
        type=int,
        default=300,
        help="batches of 64 per DataLoader run",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the files (default: a temporary one)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure reads on the files already in --out (same N and seed)",
    )
    args = parser.parse_args()

    from asegen.data import H5Dataset

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        count = args.n_structures
        paths, write_seconds = write_files(folder, count, args.seed, reuse=args.reuse)
        sizes = {key: path.stat().st_size / 1e6 for key, path in paths.items()}
        rates = direct_reads(paths, count, args)
        for key, dataset in (
            ("hdf5", H5Dataset(paths["hdf5"])),
            ("db", AseDbDataset(paths["db"], count)),
        ):
            rates["loader", key] = loader_reads(
                dataset, args.loader_batches, args.workers, args.seed
            )

    def row(label, values):
        return "| " + " | ".join([label, *values]) + " |"

    def rate(kind, key):
        return f"{rates[kind, key]:,.0f}" if (kind, key) in rates else "–"

    formats = ("hdf5", "db", "extxyz")
    print(f"{count:,} structures of 10-50 atoms with energy, forces and stress.")
    print(f"Machine: {machine()}.\n")
    print(row("", ["asegen HDF5", "ASE db (SQLite)", "extxyz"]))
    print(row("---", ["---"] * 3))
    if write_seconds is not None:
        print(row("write (s)", [f"{write_seconds[key]:.1f}" for key in formats]))
    print(row("file size (MB)", [f"{sizes[key]:.0f}" for key in formats]))
    print(
        row("single random reads (structures/s)", [rate("single", k) for k in formats])
    )
    print(
        row(
            "time per single read (µs)",
            [f"{1e6 / rates['single', key]:,.0f}" for key in formats],
        )
    )
    print(
        row(
            "random batches of 64, one process (structures/s)",
            [rate("batch", key) for key in formats],
        )
    )
    print(
        row(
            f"DataLoader, batch 64, shuffle, {args.workers} workers (structures/s)",
            [rate("loader", key) for key in formats],
        )
    )
    ratios = ", ".join(
        f"{kind} {rates[kind, 'hdf5'] / rates[kind, 'db']:.1f}x"
        for kind in ("single", "batch", "loader")
    )
    print(f"\nasegen HDF5 / ASE db: {ratios}.")
    print(f"\nCommand: python {shlex.join(sys.argv)}")


if __name__ == "__main__":
    main()
