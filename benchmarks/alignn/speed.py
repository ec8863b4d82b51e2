"""ALIGNNCalculator against alignn's own calculator: evaluation speed, calls, memory.

The protocol of specs/alignn.md, section 5: the benchmark model with random
weights (alignn's ``alignn_atomwise_pure``, ``torch.manual_seed(0)``); asegen
loads the same weights with ``ALIGNNCalculator.from_alignn`` (identical graph
and network), and also runs its default model (gated sum, smooth cutoffs,
radius graph, cutoff 5 Å) of the same widths, and (side ``asegen-defaults``)
the model ``asegen train alignn`` builds by default, ``ALIGNNConfig()``. Si
diamond 8-atom cells repeated k^3 and fcc Cu 5^3, and the small cells of the
bundled data (``CuAu8``, ``CuAu16``, ``CuAu32``: the first cell of that size
holding both elements in ``examples/data/cu_au_emt.xyz``; ``PdO16``: the PdO
seed of ``examples/data/pdo_seeds.xyz``); before every call positions are reset
and rattled by N(0, 0.02 Å). "EFS" is ``get_potential_energy(); get_forces();
get_stress()``, "single" one ``calculate`` of all three; "CPU ms" its process
CPU time, which a busy machine inflates less than the wall time. Medians of 5
(``--repeats``) after 2 warm-ups, each system in a fresh process (``--rounds``
alternates the sides several times and takes medians over the processes); MD:
Si64 (or ``--md-system``), VelocityVerlet 1 fs, 300 K start.

    python benchmarks/alignn/speed.py --anchor-python ALIGNN_VENV/bin/python
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _anchor_config import BENCHMARK_CONFIG

SYSTEMS = {
    "Si8": ("Si", 1),
    "Si64": ("Si", 2),
    "Si216": ("Si", 3),
    "Si512": ("Si", 4),
    "Si1000": ("Si", 5),
    "Cu500": ("Cu", 5),
    "Si4096": ("Si", 8),
}
#: Small cells of the bundled data sets: (file under examples/data, atoms).
SMALL_CELLS = {
    "CuAu8": ("cu_au_emt.xyz", 8),
    "CuAu16": ("cu_au_emt.xyz", 16),
    "CuAu32": ("cu_au_emt.xyz", 32),
    "PdO16": ("pdo_seeds.xyz", 16),
}
SIDES = ("alignn", "asegen-from-alignn", "asegen-default", "asegen-defaults")
DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def make_atoms(name):
    """The named crystal of SYSTEMS or bundled cell of SMALL_CELLS."""
    if name in SMALL_CELLS:
        from ase.io import iread

        file, n = SMALL_CELLS[name]
        mixed = (a for a in iread(DATA / file) if len(set(a.numbers)) > 1)
        atoms = next(a for a in mixed if len(a) == n)
        atoms.calc = None
        return atoms
    return crystal(*SYSTEMS[name])


def crystal(element, k):
    """Diamond Si or fcc Cu, the cubic cell repeated k times along each axis."""
    from ase.build import bulk

    if element == "Si":
        return bulk("Si", "diamond", a=5.43, cubic=True).repeat(k)
    return bulk("Cu", "fcc", a=3.615, cubic=True).repeat(k)


def write_anchor_run(run: Path) -> None:
    """Write the random benchmark model as an alignn run directory (anchor venv)."""
    import torch
    from alignn.config import TrainingConfig
    from alignn.models.alignn_atomwise_pure import (
        ALIGNNAtomWisePure,
        ALIGNNAtomWisePureConfig,
    )

    torch.manual_seed(0)
    config = TrainingConfig(**BENCHMARK_CONFIG).model_dump()
    model = ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**config["model"]))
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps(config, default=str))
    torch.save(model.state_dict(), run / "best_model.pt")


def calculator(side: str, run: Path, device: str = "cpu"):
    import torch

    if side == "alignn":
        from alignn.ff.calculators import AlignnAtomwiseCalculator
        from alignn.models.alignn_atomwise_pure import (
            ALIGNNAtomWisePure,
            ALIGNNAtomWisePureConfig,
        )

        config = json.loads((run / "config.json").read_text())
        model = ALIGNNAtomWisePure(ALIGNNAtomWisePureConfig(**config["model"]))
        model.load_state_dict(torch.load(run / "best_model.pt", weights_only=True))
        model = model.eval().to(device)
        return AlignnAtomwiseCalculator(model=model, config=config, device=device)
    from asegen.calculators import ALIGNNCalculator

    if side == "asegen-from-alignn":
        return ALIGNNCalculator.from_alignn(run, device=device)
    from asegen.models import ALIGNN, ALIGNNConfig

    torch.manual_seed(0)
    if side == "asegen-defaults":
        return ALIGNNCalculator(ALIGNN(ALIGNNConfig()), device=device)
    model = ALIGNN(
        ALIGNNConfig(hidden_features=128, alignn_layers=3, gcn_layers=3, cutoff=5.0)
    )
    return ALIGNNCalculator(model, device=device)


def worker(side: str, system: str, run: Path, args) -> dict:
    if side.startswith("asegen"):
        import asegen

        asegen.tune_allocator()  # before torch, as in a user's script: see its docs
    import torch
    from ase.calculators.calculator import all_changes

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    calc = calculator(side, run, args.device)
    atoms = make_atoms(system)
    reference = atoms.positions.copy()
    rng = np.random.default_rng(0)
    atoms.calc = calc
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    calls = []
    original = calc.calculate

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    calc.calculate = counting

    def rattle():
        atoms.positions = reference + rng.normal(0.0, 0.02, reference.shape)

    def efs():
        atoms.get_potential_energy()
        atoms.get_forces()
        atoms.get_stress()

    def single():
        calc.calculate(atoms, ["energy", "forces", "stress"], all_changes)

    result = {"side": side, "system": system, "atoms": len(atoms)}
    for name, fn in (("efs", efs), ("single", single)):
        times, cpu_times = [], []
        for repeat in range(args.repeats + 2):
            rattle()
            before = len(calls)
            start, cpu_start = time.perf_counter(), time.process_time()
            fn()
            if repeat >= 2:
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
            if name == "efs":
                result["calls_per_efs"] = len(calls) - before
        result[f"{name}_ms"] = statistics.median(times) * 1e3
        result[f"{name}_min_ms"] = min(times) * 1e3
        result[f"{name}_max_ms"] = max(times) * 1e3
        result[f"{name}_cpu_ms"] = statistics.median(cpu_times) * 1e3
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["baseline_rss_mb"] = baseline
    if args.md_steps and system == args.md_system:
        from ase import units
        from ase.md.verlet import VelocityVerlet

        atoms.positions = reference.copy()
        masses = atoms.get_masses()[:, None]
        velocities = rng.normal(size=reference.shape) * np.sqrt(300 * units.kB / masses)
        atoms.set_momenta(masses * velocities)
        dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs, logfile=None)
        start = time.perf_counter()
        dyn.run(args.md_steps)
        result["md_steps_per_s"] = args.md_steps / (time.perf_counter() - start)
    return result


def drive(args) -> None:
    run = Path(tempfile.mkdtemp(prefix="alignn-speed-")) / "run"
    script = str(Path(__file__).resolve())
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
    }
    subprocess.run(
        [args.anchor_python, script, "--make-run", str(run)],
        check=True,
        env=env,
        cwd=run.parent,
    )
    sides = list(args.sides)
    if args.baseline:
        sides += [f"before-{side[7:]}" for side in args.sides if side != "alignn"]
    runs = {}
    for round_ in range(args.rounds):  # sides alternate within each round
        for system in args.systems:
            for side in sides:
                runs.setdefault((side, system), []).append(
                    run_worker(args, side, system, run, env, round_)
                )
    rows = {key: merge(found) for key, found in runs.items()}
    report(rows, args, sides)
    loads = [row["load"] for found in runs.values() for row in found]
    print(f"load average (1 min) after each process: {min(loads):.2f}-{max(loads):.2f}")


def run_worker(args, side: str, system: str, run: Path, env: dict, round_: int):
    """One side on one system in a fresh process; its result row."""
    python = args.anchor_python if side == "alignn" else sys.executable
    label = f"round {round_} {side} {system}"
    if side.startswith("before-"):  # asegen's earlier source tree first on the path
        env = {**env, "PYTHONPATH": str(args.baseline)}
        side = "asegen-" + side.removeprefix("before-")
    command = [python, str(Path(__file__).resolve()), "--worker", side, system,
               "--run", str(run), "--md-steps", str(args.md_steps), "--md-system",
               args.md_system, "--repeats", str(args.repeats),
               "--device", args.device]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=run.parent
    )
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"{side} on {system} failed")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["load"] = os.getloadavg()[0]
    print(f"# {label}: {row}", file=sys.stderr)
    return row


def merge(rows: list[dict]) -> dict:
    """Medians over rounds; min and max over every timed call."""
    merged = dict(rows[0])
    for key in rows[0]:
        values = [r[key] for r in rows if isinstance(r.get(key), float)]
        if not values:
            continue
        pick = (
            min if key.endswith("_min_ms") else max if key.endswith("_max_ms") else None
        )
        merged[key] = pick(values) if pick else statistics.median(values)
    return merged


def report(rows, args, sides) -> None:
    print(f"command: python {' '.join(sys.argv)}")
    print(f"threads: {args.threads}; machine: {os.cpu_count()} cores")
    print()
    print("| system | N | side | EFS ms | calls per EFS | single ms [min-max] | "
          "atoms·evals/s | peak RSS MB | single speed-up vs alignn | "
          "single CPU ms | CPU speed-up |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for system in args.systems:
        anchor = rows.get(("alignn", system))
        for side in sides:
            r = rows[side, system]
            ratio = anchor["single_ms"] / r["single_ms"] if anchor else float("nan")
            cpu = anchor["single_cpu_ms"] / r["single_cpu_ms"] if anchor else ratio
            spread = f"{r['single_min_ms']:.1f}-{r['single_max_ms']:.1f}"
            rate = r["atoms"] / r["single_ms"] * 1e3
            print(
                f"| {system} | {r['atoms']} | {side} | {r['efs_ms']:.1f} "
                f"| {r['calls_per_efs']} | {r['single_ms']:.1f} [{spread}] "
                f"| {rate:.0f} | {r['peak_rss_mb']:.0f} | {ratio:.2f}x "
                f"| {r['single_cpu_ms']:.1f} | {cpu:.2f}x |"
            )
    if args.md_system in args.systems and args.md_steps:
        print()
        for side in sides:
            steps = rows[side, args.md_system].get("md_steps_per_s")
            print(
                f"- MD {args.md_system}, {args.md_steps} steps: "
                f"{side} {steps:.2f} steps/s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor-python", help="python of a virtualenv with alignn")
    parser.add_argument(
        "--systems", nargs="+", default=list(SYSTEMS), choices=[*SYSTEMS, *SMALL_CELLS]
    )
    parser.add_argument("--sides", nargs="+", default=list(SIDES), choices=SIDES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--device",
        default="cpu",
        help="where every side runs: cpu, cuda, cuda:1 (results come back to the "
        "host each call, so the timings include the synchronisation)",
    )
    parser.add_argument("--md-steps", type=int, default=100)
    parser.add_argument("--md-system", default="Si64", help="the system of the MD run")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed calls per process"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="processes per side and system, sides alternating; medians over rounds",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="an earlier asegen source tree (git archive export): its asegen sides "
        "run too, as before-from-alignn and before-default",
    )
    parser.add_argument("--make-run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_run:
        write_anchor_run(args.make_run)
    elif args.worker:
        print(json.dumps(worker(*args.worker, args.run, args)))
    else:
        if not args.anchor_python:
            parser.error("--anchor-python is required")
        drive(args)


if __name__ == "__main__":
    main()
