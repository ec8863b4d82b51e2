"""Accuracy per second: asegen's default ALIGNN force field against alignn's FF config.

Both sides train at once, each on one thread, on the same data and for the
same wall-clock budget (``--budget`` seconds from launch, start-up and graph
building included), so they share the machine's noise:

``alignn``
    alignn's own ``train_alignn.py`` (the anchor venv) with the documented
    pure-torch ALIGNN-FF config, ``/work/shared/alignn-configs/
    pure_torch_force_field.json`` (128 features, 3 + 3 layers, 12 nearest
    neighbours within 6 Å, angles within 4 Å, batch 2, learning rate 1e-3,
    L1, weights 0.85/0.05/0.05 on energy per atom, forces, stress). The DGL
    config (``force_field.json``, ``fast_graph``) has the same network but
    needs DGL, which the anchor venv (torch 2.13) cannot install.
``asegen``
    ``asegen train alignn`` with asegen's default model and training settings
    (:class:`~asegen.models.alignn.ALIGNNConfig` and ``TrainConfig``
    defaults: 64 features, 2 + 2 layers, radius graph within 5 Å, angles
    within 3.5 Å, batch 16, learning rate 1e-3, L1 on energy and forces).

Each side's ``epochs`` is set so that its one-cycle schedule ends at about the
budget (``--alignn-rate`` / ``--asegen-rate``: training structures per second
measured on this machine); the run is stopped at the budget either way. Every
checkpoint the trainers write (alignn's ``current_model.pt``, asegen's
``last.pt``, once per epoch) is copied with its time since launch, and the
copies are evaluated afterwards on the same held-out test structures (energy
MAE per atom, force MAE per component). Then each trained model's time of one
evaluation (energy, forces, stress) and of a VelocityVerlet MD step on the
largest test structure is measured, the two sides alternated.

Datasets: ``cuau``, the bundled EMT Cu–Au set (examples/data/cu_au_emt.xyz,
160/20/20 in file order); ``pdo``, the periodic bulk structures of the bundled
CHGNet Pd–O set (examples/data/pdo: slabs and clusters carry no stress and
alignn's id_prop format needs one on every record), ``--pdo-train`` of them
spread evenly over the file (it is ordered by composition: Pd, PdO, PdO2);
``pdofull``, the whole Pd–O set (bulk, slabs, clusters; training and
validation structures evenly spread over the files up to the caps, every test
structure), for asegen sides only, with the test MAEs of the final models per
kind of structure and the neighbour counts of the test structures at
``--neighbour-cutoffs``.
Results are appended to ``OUT/results.jsonl`` as each run ends; a rerun skips
what is there. ``--report`` only redraws the table and plot; ``--retime``
times the stored final models again (on a quieter machine, say).

``--sides`` names the sides that train at once: ``alignn`` is the anchor, any
other name an ``asegen train alignn`` run whose changes to the defaults are
``--set NAME:model.KEY=VALUE`` (as ``asegen train --set``; ``--asegen-set
KEY=VALUE`` is ``--set asegen:KEY=VALUE``) and whose planned structures/s is
``--rate NAME=VALUE``. Two settings of asegen and alignn's config, three sides
at once, one thread each:

    python benchmarks/alignn/accuracy_per_second.py \\
        --anchor-python ~/.cache/asegen-anchors/alignn-venv/bin/python \\
        --sides alignn old candidate \\
        --set old:model.cutoff=5.0 --set old:model.alignn_layers=2 \\
        --set candidate:model.cutoff=4.5 --set candidate:model.alignn_layers=1
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))
from _timing import median_wall_cpu_ms
from train_compare import anchor_epoch_times, write_id_prop

ROOT = Path(__file__).resolve().parents[2]
ANCHOR_CONFIG = Path("/work/shared/alignn-configs/pure_torch_force_field.json")
ANCHOR = "alignn"
KINDS = {3: "bulk", 2: "slab", 0: "cluster"}  # by the number of periodic axes
SPEED_KEYS = ("atoms", "single_ms", "md_step_ms", "single_cpu_ms", "md_step_cpu_ms")


def prepare(dataset: str, folder: Path, args) -> dict:
    """Write train/val/test in file order to ``folder/all.xyz``; return counts."""
    from ase.io import read, write

    import asegen.data

    if dataset == "cuau":
        frames = read(ROOT / "examples/data/cu_au_emt.xyz", index=":")
        counts = {"train": 160, "val": 20, "test": 20}
    elif dataset == "pdofull":
        caps = {"train": args.pdo_train, "val": args.pdo_train // 10, "test": None}
        frames, counts = [], {}
        for split, cap in caps.items():
            every = asegen.data.read(ROOT / f"examples/data/pdo/pdo_{split}.h5")
            picked = every if cap is None else thin(every, cap)
            frames += picked
            counts[split] = len(picked)
    else:
        caps = {"train": args.pdo_train, "val": args.pdo_train // 10, "test": 100}
        frames, counts = [], {}
        for split, cap in caps.items():
            bulk = thin(
                [
                    atoms
                    for atoms in asegen.data.read(
                        ROOT / f"examples/data/pdo/pdo_{split}.h5"
                    )
                    if atoms.pbc.all() and "stress" in atoms.calc.results
                ],
                cap,
            )
            frames += bulk
            counts[split] = len(bulk)
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "all.xyz", frames)
    n = counts["train"] + counts["val"]
    write(folder / "test.xyz", frames[n:])
    return counts


def side_options(args) -> tuple[dict, dict]:
    """Each asegen side's ``--set`` changes and each side's planned rate."""
    changes = {side: [] for side in args.sides if side != ANCHOR}
    for option in [f"asegen:{c}" for c in args.asegen_set] + args.set:
        side, _, change = option.partition(":")
        if side not in changes or "=" not in change:
            raise SystemExit(
                f"Error: --set {option} names no asegen side of --sides "
                f"{' '.join(args.sides)}; write --set SIDE:model.KEY=VALUE"
            )
        changes[side].append(change)
    rates = {
        side: args.alignn_rate if side == ANCHOR else args.asegen_rate
        for side in args.sides
    }
    for option in args.rate:
        side, _, value = option.partition("=")
        if side not in rates:
            raise SystemExit(f"Error: --rate {option} names no side of --sides")
        rates[side] = float(value)
    return changes, rates


def launch(side: str, folder: Path, run: Path, counts: dict, seed: int, args):
    """Start one side's training; return the process and its checkpoint path."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    epochs = max(1, round(args.budget * args.rates[side] / counts["train"]))
    split = {"n_train": counts["train"], "n_val": counts["val"]}
    log = (run.parent / f"{run.name}.log").open("w")
    if side == ANCHOR:
        config = json.loads(ANCHOR_CONFIG.read_text())
        config.update(
            epochs=epochs, n_test=counts["test"], keep_data_order=True,
            num_workers=0, output_dir=str(run), random_seed=seed, **split,
        )  # fmt: skip
        (run.parent / f"{run.name}.json").write_text(json.dumps(config))
        trainer = str(Path(args.anchor_python).with_name("train_alignn.py"))
        command = [
            args.anchor_python, trainer, "--root_dir", str(folder / "alignn"),
            "--config_name", str(run.parent / f"{run.name}.json"),
            "--output_dir", str(run), "--target_key", "energy_per_atom",
            "--force_key", "forces", "--stresswise_key", "stresses",
            "--id_key", "jid",
        ]  # fmt: skip
        checkpoint = run / "current_model.pt"
    else:
        config = {"train": {**split, "n_test": counts["test"], "epochs": epochs,
                            "keep_data_order": True, "seed": seed,
                            "device": "cpu"}}  # fmt: skip
        (run.parent / f"{run.name}.json").write_text(json.dumps(config))
        command = [
            sys.executable, "-m", "asegen", "train", "alignn",
            str(run.parent / f"{run.name}.json"), "--data",
            str(folder / "all.xyz"), "--out", str(run),
            *(f"--set={change}" for change in args.changes[side]),
        ]  # fmt: skip
        checkpoint = run / "version_0" / "checkpoints" / "last.pt"
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=run.parent
    )
    return process, checkpoint, epochs


def watch(checkpoint: Path, snapshots: Path, start: float, stop: threading.Event):
    """Copy ``checkpoint`` whenever it changes, named by its age since launch."""
    snapshots.mkdir(parents=True, exist_ok=True)
    seen = None
    while not stop.wait(0.5):
        try:
            stat = checkpoint.stat()
        except FileNotFoundError:
            continue
        if (stat.st_mtime, stat.st_size) == seen:
            continue
        time.sleep(0.5)  # let a write that is under way finish
        try:
            now = checkpoint.stat()
            if (now.st_mtime, now.st_size) != (stat.st_mtime, stat.st_size):
                continue
            shutil.copy(checkpoint, snapshots / f"{stat.st_mtime - start:08.1f}.pt")
        except FileNotFoundError:
            continue
        seen = (stat.st_mtime, stat.st_size)


def train_pair(dataset: str, seed: int, work: Path, counts: dict, args) -> dict:
    """Train every side at once for the budget; return snapshots and throughput."""
    folder = work / dataset
    runs = {side: folder / f"{side}-{seed}" for side in args.sides}
    started, threads, stop = {}, [], threading.Event()
    for side, run in runs.items():
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        start = time.time()
        process, checkpoint, epochs = launch(side, folder, run, counts, seed, args)
        started[side] = (process, epochs)
        thread = threading.Thread(
            target=watch, args=(checkpoint, run / "snapshots", start, stop)
        )
        thread.start()
        threads.append(thread)
    time.sleep(args.budget)
    for process, _ in started.values():
        process.terminate()
    for process, _ in started.values():
        process.wait()
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join()
    result = {"dataset": dataset, "seed": seed, "counts": counts,
              "sides": args.sides, "budget": args.budget}  # fmt: skip
    for side, run in runs.items():
        log = (run.parent / f"{run.name}.log").read_text()
        if side == ANCHOR:
            epoch_seconds = anchor_epoch_times(log)
        else:
            metrics = run / "version_0" / "metrics.csv"
            with metrics.open() as handle:
                epoch_seconds = [
                    float(r["train_seconds"]) for r in csv.DictReader(handle)
                ]
        snaps = sorted((run / "snapshots").glob("*.pt"))
        if not snaps:
            raise SystemExit(
                f"{side} wrote no checkpoint in the budget:\n{log[-2000:]}"
            )
        result[side] = {
            "epochs_planned": started[side][1],
            "epoch_seconds": epoch_seconds,
            "structures_per_s": counts["train"] / statistics.median(epoch_seconds)
            if epoch_seconds
            else None,
            "snapshots": [str(s) for s in snaps],
            "run": str(run),
        }
        if side != ANCHOR:
            result[side]["set"] = args.changes[side]
    return result


def thin(items: list, keep: int) -> list:
    """At most ``keep`` items, evenly spread, the last always kept."""
    if len(items) <= keep:
        return items
    picks = np.linspace(0, len(items) - 1, keep).round().astype(int)
    return [items[k] for k in sorted(set(picks))]


def calculator(side: str, run: Path, snapshot: Path):
    """A calculator of one side's snapshot (in that side's venv)."""
    if side == ANCHOR:
        from alignn.ff.calculators import AlignnAtomwiseCalculator

        return AlignnAtomwiseCalculator(
            path=str(run), model_filename=str(snapshot), device="cpu"
        )
    from asegen.calculators import ALIGNNCalculator

    return ALIGNNCalculator.load(snapshot, device="cpu")


def evaluate(side: str, run: Path, test: Path, snapshots: list[Path]) -> list:
    """Test MAEs of each snapshot, all and per kind of structure.

    One ``{"all" | kind: [energy per atom (eV/atom), forces (eV/Å)]}`` per
    snapshot.
    """
    from ase.io import read

    frames = read(test, index=":")
    kinds = [KINDS[int(frame.pbc.sum())] for frame in frames]
    rows = []
    for snapshot in snapshots:
        calc = calculator(side, run, snapshot)
        energy, forces = [], []
        for frame in frames:
            reference = frame.calc.results
            atoms = frame.copy()
            atoms.calc = calc
            error = atoms.get_potential_energy() - reference["energy"]
            energy.append(abs(error) / len(atoms))
            forces.append(np.abs(atoms.get_forces() - reference["forces"]).ravel())
        row = {}
        for kind in ("all", *sorted(set(kinds))):
            pick = [k for k, name in enumerate(kinds) if kind in ("all", name)]
            row[kind] = [
                float(np.mean([energy[k] for k in pick])),
                float(np.concatenate([forces[k] for k in pick]).mean()),
            ]
        rows.append(row)
    return rows


def neighbour_counts(test: Path, cutoffs: list[float]) -> dict:
    """Per kind and cutoff: median, minimum and share below 4 of neighbours/atom."""
    from ase.io import read

    from asegen.graph import neighbor_list

    frames = read(test, index=":")
    table = {}
    for kind in sorted({KINDS[int(f.pbc.sum())] for f in frames}):
        picked = [f for f in frames if KINDS[int(f.pbc.sum())] == kind]
        for cutoff in cutoffs:
            counts = np.concatenate([
                np.bincount(neighbor_list(f, cutoff=cutoff)[0], minlength=len(f))
                for f in picked
            ])  # fmt: skip
            table[f"{kind} {cutoff:g}"] = {
                "median": float(np.median(counts)),
                "min": int(counts.min()),
                "below_4": float(np.mean(counts < 4)),
            }
    return table


def speed(side: str, run: Path, snapshot: Path, test: Path, repeats: int) -> dict:
    """One evaluation (E, F, S) and one MD step of the largest test structure.

    Wall and process CPU times (ms), medians of ``repeats`` calls.
    """
    import torch
    from ase import units
    from ase.calculators.calculator import all_changes
    from ase.io import read
    from ase.md.verlet import VelocityVerlet

    torch.set_num_threads(1)
    frames = read(test, index=":")
    atoms = max(frames, key=len).copy()
    calc = calculator(side, run, snapshot)
    atoms.calc = calc
    reference = atoms.positions.copy()
    rng = np.random.default_rng(0)

    def single():
        atoms.positions = reference + rng.normal(0.0, 0.02, reference.shape)
        calc.calculate(atoms, ["energy", "forces", "stress"], all_changes)

    single_ms, single_cpu_ms = median_wall_cpu_ms(single, repeats)
    atoms.positions = reference
    atoms.set_momenta(
        rng.normal(size=reference.shape)
        * np.sqrt(300 * units.kB * atoms.get_masses())[:, None]
    )
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs, logfile=None)
    md_ms, md_cpu_ms = median_wall_cpu_ms(lambda: dyn.run(1), repeats)
    return {"atoms": len(atoms), "single_ms": single_ms, "md_step_ms": md_ms,
            "single_cpu_ms": single_cpu_ms, "md_step_cpu_ms": md_cpu_ms}  # fmt: skip


def in_venv(side: str, args, *command: str) -> object:
    """Run this script's ``command`` in ``side``'s venv on one thread; its JSON."""
    python = args.anchor_python if side == ANCHOR else sys.executable
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [python, __file__, *command], capture_output=True, text=True, env=env
    )
    if done.returncode:
        raise SystemExit(f"{side} {command[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(dataset: str, seed: int, work: Path, args) -> dict:
    """Train every side, then evaluate their snapshots and time the final models."""
    folder = work / dataset
    counts = json.loads((folder / "counts.json").read_text())
    result = train_pair(dataset, seed, work, counts, args)
    test = folder / "test.xyz"
    picked = {
        side: thin(result[side]["snapshots"], args.snapshots) for side in args.sides
    }
    with ThreadPoolExecutor(len(picked)) as pool:  # the sides' evaluations at once
        futures = {}
        for side, snaps in picked.items():
            command = ("--evaluate", side, result[side]["run"], str(test), *snaps)
            futures[side] = pool.submit(in_venv, side, args, *command)
        rows = {side: future.result() for side, future in futures.items()}
    for side, snaps in picked.items():
        result[side]["curve"] = [
            [float(Path(s).stem), *row["all"]]
            for s, row in zip(snaps, rows[side], strict=True)
        ]
        result[side]["kinds"] = rows[side][-1]
    time_models(result, test, args)
    return result


def time_models(result: dict, test: Path, args) -> None:
    """Time every side's final model, alternated, into ``result[side]["speed"]``."""
    sides = sides_of(result)
    timings = {side: [] for side in sides}
    for _ in range(args.speed_rounds):  # alternate the sides
        for side in sides:
            final = result[side]["snapshots"][-1]
            command = ("--speed", side, result[side]["run"], str(test), final)
            timings[side].append(in_venv(side, args, *command))
    for side in sides:
        result[side]["speed"] = {
            key: statistics.median(t[key] for t in timings[side]) for key in SPEED_KEYS
        }
        result[side]["speed"]["load"] = os.getloadavg()[0]


def sides_of(result: dict) -> list[str]:
    """The sides of a stored run (runs before ``--sides``: alignn and asegen)."""
    return result.get("sides", ["alignn", "asegen"])


def name(result: dict, side: str) -> str:
    """The side's name, with a candidate's changes to asegen's defaults."""
    changes = result[side].get("set")
    if not changes:
        return side
    return f"{side} ({', '.join(c.split('.', 1)[-1] for c in changes)})"


def report(results: list[dict], out: Path, args) -> None:
    """Print the markdown tables and draw the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = ["cuau", "pdo", "pdofull"]
    datasets = sorted({r["dataset"] for r in results}, key=order.index)
    figure, axes = plt.subplots(
        2, len(datasets), figsize=(5 * len(datasets), 7), squeeze=False
    )
    palette = iter(["tab:blue", "tab:green", "tab:red", "tab:purple"])
    colours = {ANCHOR: "tab:orange"}
    budgets = sorted({r.get("budget", args.budget) for r in results})
    print(f"budget per side: {' / '.join(f'{b:.0f}' for b in budgets)} s; one "
          "thread per side, all at once")  # fmt: skip
    print()
    print("| data | seed | side | epochs | structures/s | final test MAE E (meV/atom) "
          "| final test MAE F (meV/Å) | one evaluation ms (CPU ms) "
          "| MD step ms (CPU ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for column, dataset in enumerate(datasets):
        labelled = set()
        for r in (r for r in results if r["dataset"] == dataset):
            for side in sides_of(r):
                s = r[side]
                curve = np.array(s["curve"])
                label = name(r, side)
                if label not in colours:
                    colours[label] = next(palette)
                for row, unit in ((0, 1), (1, 2)):
                    axes[row, column].plot(
                        curve[:, 0] / 60, curve[:, unit] * 1e3, "o-", ms=3,
                        color=colours[label], alpha=0.8,
                        label=None if label in labelled else label,
                    )  # fmt: skip
                labelled.add(label)
                cells = [
                    dataset, r["seed"], label, len(s["epoch_seconds"]),
                    f"{s['structures_per_s']:.2f}", f"{curve[-1, 1] * 1e3:.1f}",
                    f"{curve[-1, 2] * 1e3:.1f}", timed(s["speed"], "single"),
                    timed(s["speed"], "md_step"),
                ]  # fmt: skip
                print("| " + " | ".join(map(str, cells)) + " |")
        axes[0, column].set_title(f"{dataset}: test energy MAE")
        axes[1, column].set_title(f"{dataset}: test force MAE")
        axes[0, column].set_ylabel("meV/atom")
        axes[1, column].set_ylabel("meV/Å")
        for row in (0, 1):
            axes[row, column].set_xlabel("training wall-clock, minutes since launch")
            axes[row, column].set_yscale("log")
            axes[row, column].legend()
    figure.tight_layout()
    figure.savefig(out / "accuracy_per_second.png", dpi=110)
    print()
    for dataset in datasets:
        rows = [r for r in results if r["dataset"] == dataset]
        sides = sides_of(rows[0])
        for k, first in enumerate(sides):
            for second in sides[k + 1 :]:
                print(f"- {dataset}: {ratios(rows, first, second)}")
    kinds = [r for r in results if len(r[sides_of(r)[0]].get("kinds", {})) > 2]
    if kinds:
        print()
        print("| data | seed | side | kind | test MAE E (meV/atom) "
              "| test MAE F (meV/Å) |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for r in kinds:
            for side in sides_of(r):
                for kind, (energy, forces) in r[side]["kinds"].items():
                    cells = [r["dataset"], r["seed"], name(r, side), kind,
                             f"{energy * 1e3:.1f}", f"{forces * 1e3:.1f}"]  # fmt: skip
                    print("| " + " | ".join(map(str, cells)) + " |")
        print()
        print("| data | kind, cutoff (Å) | neighbours per atom, median | minimum "
              "| atoms with fewer than 4 |")  # fmt: skip
        print("|---|---|---|---|---|")
        for dataset in sorted({r["dataset"] for r in kinds}, key=order.index):
            table = neighbour_counts(out / dataset / "test.xyz", args.neighbour_cutoffs)
            for key, c in table.items():
                cells = [dataset, key, f"{c['median']:g}", c["min"],
                         f"{100 * c['below_4']:.1f} %"]  # fmt: skip
                print("| " + " | ".join(map(str, cells)) + " |")


def timed(speed: dict, key: str) -> str:
    """Wall ms, with the CPU ms where measured."""
    cpu = speed.get(f"{key}_cpu_ms")
    return f"{speed[f'{key}_ms']:.1f}" + ("" if cpu is None else f" ({cpu:.1f})")


def ratios(rows: list[dict], first: str, second: str) -> str:
    """Side ``second`` against ``first``: speed and MAE ratios, median over seeds."""

    def median(value) -> float:
        return statistics.median(value(r[first], r[second]) for r in rows)

    speed = {}
    for key in ("single", "md_step"):
        wall = median(lambda a, b, k=f"{key}_ms": a["speed"][k] / b["speed"][k])
        speed[key] = f"{wall:.2f}x"
        if all(f"{key}_cpu_ms" in r[first]["speed"] for r in rows):
            cpu = median(lambda a, b, k=f"{key}_cpu_ms": a["speed"][k] / b["speed"][k])
            speed[key] += f" (CPU {cpu:.2f}x)"
    train = median(lambda a, b: b["structures_per_s"] / a["structures_per_s"])
    energy = median(lambda a, b: a["curve"][-1][1] / b["curve"][-1][1])
    forces = median(lambda a, b: a["curve"][-1][2] / b["curve"][-1][2])
    return (
        f"{name(rows[0], second)} against {name(rows[0], first)}: one evaluation "
        f"{speed['single']}, MD step {speed['md_step']}, training structures/s "
        f"{train:.2f}x faster; final test MAE E {energy:.2f}x, F {forces:.2f}x "
        f"lower (median over {len(rows)} seeds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor-python", help="python of a virtualenv with alignn")
    parser.add_argument(
        "--datasets", nargs="+", default=["cuau", "pdo"],
        choices=["cuau", "pdo", "pdofull"],
    )  # fmt: skip
    parser.add_argument(
        "--sides", nargs="+", default=[ANCHOR, "asegen"],
        help=f"sides that train at once: {ANCHOR} and asegen settings by name",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[123])
    parser.add_argument("--budget", type=float, default=480.0, help="s per run")
    parser.add_argument(
        "--alignn-rate", type=float, default=3.0, help="structures/s, for epochs"
    )
    parser.add_argument(
        "--asegen-rate", type=float, default=8.0, help="structures/s, for epochs"
    )
    parser.add_argument(
        "--asegen-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a change to asegen's defaults on side asegen (asegen train --set)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="SIDE:KEY=VALUE",
        help="a change to asegen's defaults on one asegen side",
    )  # fmt: skip
    parser.add_argument(
        "--rate", action="append", default=[], metavar="SIDE=VALUE",
        help="one side's planned structures/s, for its epochs",
    )  # fmt: skip
    parser.add_argument(
        "--neighbour-cutoffs", type=float, nargs="+", default=[4.5, 5.0],
        help="cutoffs (Å) of the neighbour counts of a pdofull test set",
    )  # fmt: skip
    parser.add_argument("--pdo-train", type=int, default=600)
    parser.add_argument("--snapshots", type=int, default=8, help="evaluated per run")
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench-out" / "accuracy_per_second"
    )
    parser.add_argument("--report", action="store_true", help="only redraw from OUT")
    parser.add_argument(
        "--retime", action="store_true", help="time the stored final models again"
    )
    parser.add_argument("--prepare-anchor", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--evaluate", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--speed", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_anchor:
        write_id_prop(Path(args.prepare_anchor[0]), Path(args.prepare_anchor[1]))
        return
    if args.evaluate:
        side, run, test, *snaps = args.evaluate
        print(
            json.dumps(evaluate(side, Path(run), Path(test), [Path(s) for s in snaps]))
        )
        return
    if args.speed:
        side, run, test, snap = args.speed
        print(json.dumps(speed(side, Path(run), Path(snap), Path(test), 10)))
        return
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    args.changes, args.rates = side_options(args)
    store = args.out / "results.jsonl"
    results = [json.loads(line) for line in store.open()] if store.exists() else []
    anchor = (
        any(ANCHOR in sides_of(r) for r in results)
        if args.retime
        else (ANCHOR in args.sides and not args.report)
    )
    if anchor and not args.anchor_python:
        parser.error(f"--anchor-python is required with side {ANCHOR}")
    if not args.report and ANCHOR in args.sides and "pdofull" in args.datasets:
        parser.error(
            f"pdofull has slabs and clusters without stress, which {ANCHOR}'s "
            f"id_prop needs; drop {ANCHOR} from --sides or pdofull from --datasets"
        )
    if args.retime:
        for result in results:
            time_models(result, args.out / result["dataset"] / "test.xyz", args)
        store.write_text("".join(json.dumps(r) + "\n" for r in results))
    elif not args.report:
        for dataset in args.datasets:
            folder = args.out / dataset
            if not (folder / "counts.json").exists():
                (folder / "counts.json").write_text(
                    json.dumps(prepare(dataset, folder, args))
                )
            if ANCHOR in args.sides and not (folder / "alignn").exists():
                subprocess.run(
                    [args.anchor_python, __file__, "--prepare-anchor",
                     str(folder / "all.xyz"), str(folder / "alignn")], check=True,
                )  # fmt: skip
            for seed in args.seeds:
                if any(r["dataset"] == dataset and r["seed"] == seed for r in results):
                    continue  # done in an earlier, interrupted run
                result = measure(dataset, seed, args.out, args)
                with store.open("a") as handle:
                    handle.write(json.dumps(result) + "\n")
                results.append(result)
                print(f"# {dataset} seed {seed} done", file=sys.stderr, flush=True)
    print(f"command: python {' '.join(sys.argv)}")
    report(results, args.out, args)


if __name__ == "__main__":
    main()
