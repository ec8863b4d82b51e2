"""asegen's placer against schnetpack-gschnet, side by side in one session.

    python benchmarks/placer/compare_gschnet.py \\
        --anchor-python ~/.cache/asegen-anchors/gschnet-venv/bin/python \\
        --out bench-out/placer

Runs ``anchor_gschnet.py`` (in the anchor's venv) and ``asegen_placer.py``
(in this one) on the same molecules, model size and settings (README.md's
protocol), one thread each, one after the other:

1. throughput: the training-data pipeline and optimisation steps (k = 10,
   batches of 5 molecules), ``--rounds`` alternating rounds;
2. equal training budget: ``--train-seconds`` of training each (same lr,
   batch, k), then ``--gen-repeats`` generation batches of 100 attempts,
   ``max_n_atoms`` 35, grid 0.05 Å, temperature 0.1;
3. quality: both generated files through asegen's RDKit evaluator
   (``evaluate_molecules``, default options) with the training molecules for
   novelty.

Writes ``results.json`` and ``results.md`` (medians and asegen/anchor ratios)
into ``--out``; each tool's JSON and molecules stay there. ``--small`` is a
smoke run whose numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--anchor-python", required=True, type=Path)
    parser.add_argument("--out", type=Path, default=Path("bench-out/placer"))
    parser.add_argument(
        "--data", type=Path, default=Path("examples/data/molecules/molecules_train.h5")
    )
    parser.add_argument("--n-molecules", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--train-seconds", type=float, default=600.0)
    parser.add_argument("--gen-repeats", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--small", action="store_true", help="smoke run")
    return parser.parse_args()


def run(command: list[str], out: Path) -> dict:
    """Run one half; return its JSON."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def halves(args: argparse.Namespace, extyz: Path) -> dict[str, list[str]]:
    """The two commands, without per-run options."""
    return {
        "anchor": [
            str(args.anchor_python),
            str(HERE / "anchor_gschnet.py"),
            str(extyz),
        ],
        "asegen": [sys.executable, str(HERE / "asegen_placer.py"), str(extyz)],
    }


def main() -> None:
    """Run the protocol and write the tables."""
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from ase.io import write

    from asegen.data import read_structures

    train = list(read_structures(args.data))
    extyz = args.out / "molecules.extxyz"
    write(extyz, train, format="extxyz")
    size = (
        ["--interactions", "2", "--n-molecules", "20", "--steps", "2", "--repeats", "1"]
        if args.small
        else ["--n-molecules", str(args.n_molecules), "--repeats", "3"]
    )
    commands = halves(args, extyz)
    results: dict = {"throughput": {"anchor": [], "asegen": []}}
    for r in range(1 if args.small else args.rounds):
        for name, command in commands.items():
            out = args.out / f"{name}_throughput_{r}.json"
            results["throughput"][name].append(
                run([*command, *size, "--phases", "data,step", "--out", str(out)], out)
            )
    budget = ["--train-seconds", "20" if args.small else str(args.train_seconds)]
    generation = [
        "--gen-n", "16" if args.small else "100",
        "--gen-repeats", "1" if args.small else str(args.gen_repeats),
        "--max-atoms", "35", "--lr", str(args.lr), "--steps", "1",
    ]  # fmt: skip
    for name, command in commands.items():
        out = args.out / f"{name}_generate.json"
        results[f"{name}_generate"] = run(
            [*command, *size, *budget, *generation, "--phases", "step,generate",
             "--out", str(out)], out,
        )  # fmt: skip
    results["quality"] = quality(results, train)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = report(results)
    (args.out / "results.md").write_text(table)
    print(table)


def quality(results: dict, train: list) -> dict:
    """asegen's molecule evaluator on both generated files."""
    from ase.io import read

    from asegen.evaluation import evaluate_molecules

    out = {}
    for name in ("anchor", "asegen"):
        path = results[f"{name}_generate"]["generate"]["xyz"]
        samples = read(path, ":") if Path(path).stat().st_size else []
        report = evaluate_molecules(samples, reference=train)
        metrics = {
            m.key: m.value if m.value is not None else m.count for m in report.metrics()
        }
        out[name] = {"n": len(samples), **metrics}
    return out


def median_rate(runs: list[dict], phase: str, key: str) -> float:
    """Median of a rate over the rounds."""
    return statistics.median(run[phase][key] for run in runs)


def report(results: dict) -> str:
    """Markdown tables with asegen/anchor ratios."""
    t = results["throughput"]
    rows = [
        ("data pipeline, molecules/s", "data", "molecules_per_s"),
        ("optimisation step, molecules/s", "step", "molecules_per_s"),
    ]
    lines = ["| measure | anchor | asegen | asegen / anchor |", "|---|---|---|---|"]
    for label, phase, key in rows:
        a, b = (
            median_rate(t["anchor"], phase, key),
            median_rate(t["asegen"], phase, key),
        )
        lines.append(f"| {label} | {a:.3g} | {b:.3g} | {b / a:.2f}x |")
    end_to_end = [
        1 / (1 / median_rate(t[n], "data", "molecules_per_s")
             + 1 / median_rate(t[n], "step", "molecules_per_s"))
        for n in ("anchor", "asegen")
    ]  # fmt: skip
    lines.append(
        f"| training end to end (data + step), molecules/s | {end_to_end[0]:.3g} | "
        f"{end_to_end[1]:.3g} | {end_to_end[1] / end_to_end[0]:.2f}x |"
    )
    ga, gb = results["anchor_generate"], results["asegen_generate"]
    for label, key in (
        ("generation, attempts/s", "attempts_per_s"),
        ("generation, finished molecules/s", "finished_per_s"),
    ):
        a, b = ga["generate"][key], gb["generate"][key]
        ratio = f"{b / a:.2f}x" if a else "-"
        lines.append(f"| {label} | {a:.3g} | {b:.3g} | {ratio} |")
    for name, g in (("anchor", ga), ("asegen", gb)):
        train = g["step"].get("extra_training", {})
        lines.append(
            f"| {name}: training budget | {train.get('seconds')} s, "
            f"{train.get('molecules')} molecules | last losses "
            f"{train.get('last_losses')} | |"
        )
    q = results["quality"]
    lines += ["", "| quality | anchor | asegen |", "|---|---|---|"]
    for key in ("n", "valid", "connected", "unique", "valid_unique", "novel"):
        a, b = q["anchor"].get(key), q["asegen"].get(key)
        lines.append(f"| {key} | {fmt(a)} | {fmt(b)} |")
    for name, g in (("anchor", ga), ("asegen", gb)):
        d = g["generate"]
        lines.append(
            f"| {name}: finished / failed / empty of {d['attempts']} | "
            f"{d['finished_nonempty']} / {d['failed_max_atoms']} / "
            f"{d['finished_empty']} | |"
        )
    return "\n".join(lines) + "\n"


def fmt(value: object) -> str:
    """A metric for the table."""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
