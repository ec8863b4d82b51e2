"""ALIGNNCalculator against alignn's own calculator: evaluation speed, calls, memory.

The protocol of specs/alignn.md, section 5: the benchmark model with random
weights (alignn's ``alignn_atomwise_pure``, ``torch.manual_seed(0)``); asegen
loads the same weights with ``ALIGNNCalculator.from_alignn`` (identical graph
and network), and also runs its default model (gated sum, smooth cutoffs,
radius graph, cutoff 5 Å) of the same widths. Si diamond 8-atom cells repeated
k^3 and fcc Cu 5^3; before every call positions are reset and rattled by
N(0, 0.02 Å). "EFS" is ``get_potential_energy(); get_forces(); get_stress()``,
"single" one ``calculate`` of all three. Medians of 5 after 2 warm-ups, each
system in a fresh process; MD: Si64, VelocityVerlet 1 fs, 300 K start.

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
SIDES = ("alignn", "asegen-from-alignn", "asegen-default")


def make_atoms(name):
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


def calculator(side: str, run: Path):
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
        return AlignnAtomwiseCalculator(model=model.eval(), config=config, device="cpu")
    from asegen.calculators import ALIGNNCalculator

    if side == "asegen-from-alignn":
        return ALIGNNCalculator.from_alignn(run, device="cpu")
    from asegen.models import ALIGNN, ALIGNNConfig

    torch.manual_seed(0)
    model = ALIGNN(
        ALIGNNConfig(hidden_features=128, alignn_layers=3, gcn_layers=3, cutoff=5.0)
    )
    return ALIGNNCalculator(model, device="cpu")


def worker(side: str, system: str, run: Path, md_steps: int) -> dict:
    if side.startswith("asegen"):
        import asegen

        asegen.tune_allocator()  # before torch, as in a user's script: see its docs
    import torch
    from ase.calculators.calculator import all_changes

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    calc = calculator(side, run)
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
        times = []
        for repeat in range(7):
            rattle()
            before = len(calls)
            start = time.perf_counter()
            fn()
            if repeat >= 2:
                times.append(time.perf_counter() - start)
            if name == "efs":
                result["calls_per_efs"] = len(calls) - before
        result[f"{name}_ms"] = statistics.median(times) * 1e3
        result[f"{name}_min_ms"] = min(times) * 1e3
        result[f"{name}_max_ms"] = max(times) * 1e3
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["baseline_rss_mb"] = baseline
    if md_steps and system == "Si64":
        from ase import units
        from ase.md.verlet import VelocityVerlet

        atoms.positions = reference.copy()
        masses = atoms.get_masses()[:, None]
        velocities = rng.normal(size=reference.shape) * np.sqrt(300 * units.kB / masses)
        atoms.set_momenta(masses * velocities)
        dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs, logfile=None)
        start = time.perf_counter()
        dyn.run(md_steps)
        result["md_steps_per_s"] = md_steps / (time.perf_counter() - start)
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
    rows = {}
    for system in args.systems:
        for side in args.sides:
            python = args.anchor_python if side == "alignn" else sys.executable
            command = [python, script, "--worker", side, system, "--run", str(run),
                       "--md-steps", str(args.md_steps)]  # fmt: skip
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, cwd=run.parent
            )
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{side} on {system} failed")
            rows[side, system] = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"# {side} {system}: {rows[side, system]}", file=sys.stderr, flush=True
            )
    report(rows, args)


def report(rows, args) -> None:
    print(f"command: python {' '.join(sys.argv)}")
    print(f"threads: {args.threads}; machine: {os.cpu_count()} cores")
    print()
    print("| system | N | side | EFS ms | calls per EFS | single ms [min-max] | "
          "atoms·evals/s | peak RSS MB | single speed-up vs alignn |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for system in args.systems:
        anchor = rows.get(("alignn", system))
        for side in args.sides:
            r = rows[side, system]
            ratio = anchor["single_ms"] / r["single_ms"] if anchor else float("nan")
            spread = f"{r['single_min_ms']:.1f}-{r['single_max_ms']:.1f}"
            rate = r["atoms"] / r["single_ms"] * 1e3
            print(
                f"| {system} | {r['atoms']} | {side} | {r['efs_ms']:.1f} "
                f"| {r['calls_per_efs']} | {r['single_ms']:.1f} [{spread}] "
                f"| {rate:.0f} | {r['peak_rss_mb']:.0f} | {ratio:.2f}x |"
            )
    if "Si64" in args.systems and args.md_steps:
        print()
        for side in args.sides:
            steps = rows[side, "Si64"].get("md_steps_per_s")
            print(f"- MD Si64, {args.md_steps} steps: {side} {steps:.2f} steps/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor-python", help="python of a virtualenv with alignn")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--sides", nargs="+", default=list(SIDES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--md-steps", type=int, default=100)
    parser.add_argument("--make-run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_run:
        write_anchor_run(args.make_run)
    elif args.worker:
        print(json.dumps(worker(*args.worker, args.run, args.md_steps)))
    else:
        if not args.anchor_python:
            parser.error("--anchor-python is required")
        drive(args)


if __name__ == "__main__":
    main()
