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
alignn's id_prop format needs one on every record), capped by ``--pdo-train``.
Results are appended to ``OUT/results.jsonl`` as each run ends; a rerun skips
what is there. ``--report`` only redraws the table and plot; ``--retime``
times the stored final models again (on a quieter machine, say). A candidate
for asegen's defaults trains with ``--asegen-set model.KEY=VALUE`` (as
``asegen train --set``), best into its own ``--out``.

    python benchmarks/alignn/accuracy_per_second.py \\
        --anchor-python ~/.cache/asegen-anchors/alignn-venv/bin/python
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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))
from _timing import median_ms
from train_compare import anchor_epoch_times, write_id_prop

ROOT = Path(__file__).resolve().parents[2]
ANCHOR_CONFIG = Path("/work/shared/alignn-configs/pure_torch_force_field.json")
SIDES = ("alignn", "asegen")


def prepare(dataset: str, folder: Path, args) -> dict:
    """Write train/val/test in file order to ``folder/all.xyz``; return counts."""
    from ase.io import read, write

    import asegen.data

    if dataset == "cuau":
        frames = read(ROOT / "examples/data/cu_au_emt.xyz", index=":")
        counts = {"train": 160, "val": 20, "test": 20}
    else:
        caps = {"train": args.pdo_train, "val": args.pdo_train // 10, "test": 100}
        frames, counts = [], {}
        for split, cap in caps.items():
            bulk = [
                atoms
                for atoms in asegen.data.read(
                    ROOT / f"examples/data/pdo/pdo_{split}.h5"
                )
                if atoms.pbc.all() and "stress" in atoms.calc.results
            ][:cap]
            frames += bulk
            counts[split] = len(bulk)
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "all.xyz", frames)
    n = counts["train"] + counts["val"]
    write(folder / "test.xyz", frames[n:])
    return counts


def launch(side: str, folder: Path, run: Path, counts: dict, seed: int, args):
    """Start one side's training; return the process and its checkpoint path."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    rate = args.alignn_rate if side == "alignn" else args.asegen_rate
    epochs = max(1, round(args.budget * rate / counts["train"]))
    split = {"n_train": counts["train"], "n_val": counts["val"]}
    log = (run.parent / f"{run.name}.log").open("w")
    if side == "alignn":
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
            *(f"--set={change}" for change in args.asegen_set),
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
    """Train both sides at once for the budget; return snapshots and throughput."""
    folder = work / dataset
    runs = {side: folder / f"{side}-{seed}" for side in SIDES}
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
    result = {"dataset": dataset, "seed": seed, "counts": counts}
    for side, run in runs.items():
        log = (run.parent / f"{run.name}.log").read_text()
        if side == "alignn":
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
    result["asegen"]["set"] = args.asegen_set
    return result


def thin(items: list, keep: int) -> list:
    """At most ``keep`` items, evenly spread, the last always kept."""
    if len(items) <= keep:
        return items
    picks = np.linspace(0, len(items) - 1, keep).round().astype(int)
    return [items[k] for k in sorted(set(picks))]


def calculator(side: str, run: Path, snapshot: Path):
    """A calculator of one side's snapshot (in that side's venv)."""
    if side == "alignn":
        from alignn.ff.calculators import AlignnAtomwiseCalculator

        return AlignnAtomwiseCalculator(
            path=str(run), model_filename=str(snapshot), device="cpu"
        )
    from asegen.calculators import ALIGNNCalculator

    return ALIGNNCalculator.load(snapshot, device="cpu")


def evaluate(side: str, run: Path, test: Path, snapshots: list[Path]) -> list:
    """Test MAEs of each snapshot: energy per atom (eV/atom), forces (eV/Å)."""
    from ase.io import read

    frames = read(test, index=":")
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
        rows.append([float(np.mean(energy)), float(np.concatenate(forces).mean())])
    return rows


def speed(side: str, run: Path, snapshot: Path, test: Path, repeats: int) -> dict:
    """One evaluation (E, F, S) and one MD step of the largest test structure."""
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

    single_ms = median_ms(single, repeats)
    atoms.positions = reference
    atoms.set_momenta(
        rng.normal(size=reference.shape)
        * np.sqrt(300 * units.kB * atoms.get_masses())[:, None]
    )
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs, logfile=None)
    md_ms = median_ms(lambda: dyn.run(1), repeats)
    return {"atoms": len(atoms), "single_ms": single_ms, "md_step_ms": md_ms}


def in_venv(side: str, args, *command: str) -> object:
    """Run this script's ``command`` in ``side``'s venv on one thread; its JSON."""
    python = args.anchor_python if side == "alignn" else sys.executable
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [python, __file__, *command], capture_output=True, text=True, env=env
    )
    if done.returncode:
        raise SystemExit(f"{side} {command[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(dataset: str, seed: int, work: Path, args) -> dict:
    """Train one pair, then evaluate its snapshots and time the final models."""
    folder = work / dataset
    counts = json.loads((folder / "counts.json").read_text())
    result = train_pair(dataset, seed, work, counts, args)
    test = folder / "test.xyz"
    for side in SIDES:
        snaps = thin(result[side]["snapshots"], args.snapshots)
        rows = in_venv(
            side, args, "--evaluate", side, result[side]["run"], str(test), *snaps
        )
        result[side]["curve"] = [
            [float(Path(s).stem), *row] for s, row in zip(snaps, rows, strict=True)
        ]
    time_models(result, test, args)
    return result


def time_models(result: dict, test: Path, args) -> None:
    """Time both sides' final models, alternated, into ``result[side]["speed"]``."""
    timings = {side: [] for side in SIDES}
    for _ in range(args.speed_rounds):  # alternate the sides
        for side in SIDES:
            final = result[side]["snapshots"][-1]
            command = ("--speed", side, result[side]["run"], str(test), final)
            timings[side].append(in_venv(side, args, *command))
    for side in SIDES:
        result[side]["speed"] = {
            key: statistics.median(t[key] for t in timings[side])
            for key in ("atoms", "single_ms", "md_step_ms")
        }
        result[side]["speed"]["load"] = os.getloadavg()[0]


def name(result: dict, side: str) -> str:
    """The side's name, with a candidate's changes to asegen's defaults."""
    changes = result[side].get("set")
    if not changes:
        return side
    return f"{side} ({', '.join(c.split('.', 1)[-1] for c in changes)})"


def report(results: list[dict], out: Path, args) -> None:
    """Print the markdown table and draw the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in results}, key=["cuau", "pdo"].index)
    figure, axes = plt.subplots(
        2, len(datasets), figsize=(5 * len(datasets), 7), squeeze=False
    )
    colours = {"alignn": "tab:orange", "asegen": "tab:blue"}
    print(f"budget per side: {args.budget:.0f} s; one thread per side, both at once")
    print()
    print("| data | seed | side | epochs | structures/s | final test MAE E (meV/atom) "
          "| final test MAE F (meV/Å) | one evaluation ms | MD step ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for column, dataset in enumerate(datasets):
        for r in (r for r in results if r["dataset"] == dataset):
            for side in SIDES:
                s = r[side]
                curve = np.array(s["curve"])
                label = name(r, side) if r["seed"] == results[0]["seed"] else None
                for row, unit in ((0, 1), (1, 2)):
                    axes[row, column].plot(
                        curve[:, 0] / 60, curve[:, unit] * 1e3, "o-", ms=3,
                        color=colours[side], alpha=0.8, label=label,
                    )  # fmt: skip
                cells = [
                    dataset, r["seed"], name(r, side), len(s["epoch_seconds"]),
                    f"{s['structures_per_s']:.2f}", f"{curve[-1, 1] * 1e3:.1f}",
                    f"{curve[-1, 2] * 1e3:.1f}", f"{s['speed']['single_ms']:.1f}",
                    f"{s['speed']['md_step_ms']:.1f}",
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
        ratio = {
            name: statistics.median(
                r["alignn"]["speed"][key] / r["asegen"]["speed"][key] for r in rows
            )
            for name, key in (("evaluation", "single_ms"), ("MD step", "md_step_ms"))
        }
        train = statistics.median(
            r["asegen"]["structures_per_s"] / r["alignn"]["structures_per_s"]
            for r in rows
        )
        print(
            f"- {dataset}: asegen / alignn speed, one evaluation "
            f"{ratio['evaluation']:.2f}x, MD step {ratio['MD step']:.2f}x, training "
            f"structures/s {train:.2f}x (median over seeds)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor-python", help="python of a virtualenv with alignn")
    parser.add_argument("--datasets", nargs="+", default=["cuau", "pdo"])
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
        help="a candidate's change to asegen's defaults (asegen train --set)",
    )
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
    store = args.out / "results.jsonl"
    results = [json.loads(line) for line in store.open()] if store.exists() else []
    if args.retime:
        if not args.anchor_python:
            parser.error("--anchor-python is required")
        for result in results:
            time_models(result, args.out / result["dataset"] / "test.xyz", args)
        store.write_text("".join(json.dumps(r) + "\n" for r in results))
    elif not args.report:
        if not args.anchor_python:
            parser.error("--anchor-python is required")
        for dataset in args.datasets:
            folder = args.out / dataset
            if not (folder / "counts.json").exists():
                counts = prepare(dataset, folder, args)
                subprocess.run(
                    [args.anchor_python, __file__, "--prepare-anchor",
                     str(folder / "all.xyz"), str(folder / "alignn")], check=True,
                )  # fmt: skip
                (folder / "counts.json").write_text(json.dumps(counts))
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
