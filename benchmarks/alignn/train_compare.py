"""Training throughput and learning parity: asegen against alignn's train_alignn.py.

The protocol of specs/alignn.md, section 5: the 200 EMT-labelled Cu-Au cells
of ``examples/data/cu_au_emt.xyz``, split 160/20/20 in file order, the
benchmark model, 2 epochs, batch 8, learning rate 1e-3, loss weights
0.85/0.05/0.05 (energy per atom, forces, stress). alignn gets an
``id_prop.json`` (stress in GPa, as it trains); asegen the same frames and
alignn's own ``config.json``, unchanged. Both run in the same session, one
after the other, with the same thread count; test MAEs are computed on the
same 20 structures.

    python benchmarks/alignn/train_compare.py --anchor-python ALIGNN_VENV/bin/python
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _anchor_config import BENCHMARK_CONFIG

GPA_PER_EV_A3 = 160.21766208
DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "cu_au_emt.xyz"


def write_id_prop(source: Path, folder: Path) -> None:
    """Write alignn's id_prop.json (runs in the anchor's virtualenv)."""
    from ase.io import read
    from jarvis.core.atoms import ase_to_atoms

    records = []
    for k, atoms in enumerate(read(source, index=":")):
        results = atoms.calc.results
        stress = np.asarray(atoms.get_stress(voigt=False)) * GPA_PER_EV_A3
        records.append({
            "jid": f"cell-{k:03d}",
            "atoms": ase_to_atoms(atoms).to_dict(),
            "energy_per_atom": float(results["energy"]) / len(atoms),
            "forces": np.asarray(results["forces"]).tolist(),
            "stresses": stress.tolist(),
        })  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "id_prop.json").write_text(json.dumps(records))


def run_config(epochs: int, batch_size: int, out: Path) -> dict:
    config = json.loads(json.dumps(BENCHMARK_CONFIG))
    config.update(
        epochs=epochs, batch_size=batch_size, learning_rate=1e-3, n_train=160,
        n_val=20, n_test=20, keep_data_order=True, num_workers=0,
        output_dir=str(out),
    )  # fmt: skip
    return config


def anchor_epoch_times(log: str) -> list[float]:
    """Seconds per training epoch from train_alignn.py's 'Train Loss' table."""
    times, in_train = [], False
    for line in log.splitlines():
        if line.startswith("Train Loss:"):
            in_train = True
            continue
        fields = line.split()
        if in_train and fields and re.fullmatch(r"\d+", fields[0]):
            times.append(float(fields[-1]))
            in_train = False
    return times


def test_mae_anchor(out: Path) -> tuple[float, float]:
    rows = json.loads((out / "Test_results.json").read_text())

    def values(row: dict, key: str) -> np.ndarray:
        value = row[key]  # a JSON string or a list, depending on alignn's run
        return np.asarray(json.loads(value) if isinstance(value, str) else value, float)

    energy = [abs(values(r, "pred_out")[0] - values(r, "target_out")[0]) for r in rows]
    forces = [np.abs(values(r, "pred_grad") - values(r, "target_grad")) for r in rows]
    return float(np.mean(energy)), float(
        np.concatenate([f.ravel() for f in forces]).mean()
    )


def test_mae_asegen(run: Path) -> tuple[float, float]:
    from ase.io import read

    from asegen.calculators import ALIGNNCalculator

    calc = ALIGNNCalculator.load(run, device="cpu")
    energy, forces = [], []
    for atoms in read(DATA, index="180:200"):
        reference = atoms.calc.results
        atoms.calc = calc
        energy.append(
            abs(atoms.get_potential_energy() - reference["energy"]) / len(atoms)
        )
        forces.append(np.abs(atoms.get_forces() - reference["forces"]).ravel())
    return float(np.mean(energy)), float(np.concatenate(forces).mean())


def run_pair(args, work: Path, seed: int, env: dict) -> dict:
    """Train alignn and asegen with one seed; return times and test MAEs."""
    anchor_out = work / f"anchor-{seed}"
    config = run_config(args.epochs, args.batch_size, anchor_out)
    config["random_seed"] = seed
    config_file = work / f"config-{seed}.json"
    config_file.write_text(json.dumps(config))
    trainer = str(Path(args.anchor_python).with_name("train_alignn.py"))
    start = time.perf_counter()
    done = subprocess.run(
        [args.anchor_python, trainer, "--root_dir", str(work / "data"),
         "--config_name", str(config_file), "--output_dir", str(anchor_out),
         "--target_key", "energy_per_atom", "--force_key", "forces",
         "--stresswise_key", "stresses", "--id_key", "jid"],
        capture_output=True, text=True, env=env, cwd=work,
    )  # fmt: skip
    anchor_wall = time.perf_counter() - start
    (work / f"anchor-{seed}.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    anchor_times = anchor_epoch_times(done.stdout)

    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "asegen", "train", "alignn", str(config_file),
         "--data", str(DATA), "--out", str(work / f"asegen-{seed}")],
        capture_output=True, text=True, env=env, cwd=work,
    )  # fmt: skip
    asegen_wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    run = work / f"asegen-{seed}" / "version_0"
    with (run / "metrics.csv").open() as handle:
        asegen_times = [float(r["train_seconds"]) for r in csv.DictReader(handle)]
    return {
        "alignn": (sum(anchor_times), anchor_wall, *test_mae_anchor(anchor_out)),
        "asegen": (sum(asegen_times), asegen_wall, *test_mae_asegen(run)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor-python")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3, help="runs per side")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        write_id_prop(DATA, args.prepare)
        return
    if not args.anchor_python:
        parser.error("--anchor-python is required")
    work = Path(tempfile.mkdtemp(prefix="alignn-train-"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"}
    script = str(Path(__file__).resolve())
    subprocess.run([args.anchor_python, script, "--prepare", str(work / "data")],
                   check=True, env=env, cwd=work)  # fmt: skip
    runs = [run_pair(args, work, 123 + seed, env) for seed in range(args.seeds)]

    print(f"command: python {' '.join(sys.argv)}")
    print(f"threads: {args.threads}; epochs: {args.epochs}; batch: {args.batch_size}; "
          f"seeds: {args.seeds} (mean ± std over seeds)")  # fmt: skip
    print()
    print("| side | train s, all epochs | structures/s | wall s | test MAE E (eV/atom) "
          "| test MAE F (eV/Å) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for side in ("alignn", "asegen"):
        values = np.array([r[side] for r in runs])  # (seeds, 4)
        mean, std = values.mean(axis=0), values.std(axis=0)
        rate = 160 * args.epochs / values[:, 0]
        cells = [
            f"{mean[0]:.1f} ± {std[0]:.1f}",
            f"{rate.mean():.2f} ± {rate.std():.2f}",
            f"{mean[1]:.1f}",
            f"{mean[2]:.4f} ± {std[2]:.4f}",
            f"{mean[3]:.4f} ± {std[3]:.4f}",
        ]
        print(f"| {side} | " + " | ".join(cells) + " |")
    speed = np.mean([r["alignn"][0] / r["asegen"][0] for r in runs])
    print()
    print(f"training throughput, asegen / alignn: {speed:.2f}x")


if __name__ == "__main__":
    main()
