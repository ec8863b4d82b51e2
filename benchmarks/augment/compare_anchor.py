"""asegen augment against augment-atoms 0.2.0 on identical configs and inputs.

Each run is a fresh process on a fresh output, in its own folder, with
``OMP_NUM_THREADS=1 MKL_NUM_THREADS=1``. The calculator is
``+counting.emt()`` (``counting.py`` here: EMT counting and timing its calls;
``--calculator chgnet`` for CHGNet) on fcc Cu cells, and
``+counting.lennard_jones()`` on the ``ljmol`` molecules, the same spec for
both tools. Reported per run (medians over repeats):

- wall: the whole CLI process; gen: first calculator call to process exit
  (with workers, whose calls are not counted here: asegen's own generation
  time);
  to 1st call: process start to the first calculator call (imports, config);
- out/s: written structures (seeds included) per second of gen and of wall;
- calls, calls per new structure, calculator share of gen;
- overhead: gen minus the time inside ``calculate``, per call and per new
  structure (medians of the per-run values);
- rejections by reason (from each tool's own report), peak RSS of the main
  process (GNU time).

Then the quality of the last repeat's outputs, relabelled with EMT: spread of
E/atom and of max|F| of the new structures, minimum pair distance (minimum
image), near-duplicate pairs within families, and a PNG of the three
distributions for both tools.

    python benchmarks/augment/compare_anchor.py \
        --anchor /work/anchors/augment-venv/bin/augment-atoms --out bench-out/augment
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import ase.io
import numpy as np
import yaml
from ase.calculators.emt import EMT

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_inputs import SETS, cells, molecules  # noqa: E402

SETTINGS = {
    "n_per_structure": 20,
    "T": 300,
    "beta": 0.5,
    "sigma_range": [0.01, 0.1],
    "seed": 42,
    "cell_sigma": 0.02,
    "units": "eV",
    "max_force": 30,
    "min_separation": 0.5,
    "max_relax_steps": 20,
    "similarity_threshold": 0.1,
}
REASONS = ("similar", "force", "separation")


def run_tool(command, folder, name, settings, calculator="emt"):
    """Run one tool in ``folder`` on ``name``_seeds.xyz; return its record."""
    config = {
        "data": {"input": f"{name}_seeds.xyz", "output": "out.xyz"},
        "config": settings,
        "model": {"calculator": f"+counting.{calculator}()"},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": str(HERE),
        "AUGMENT_COUNTS": str(folder / "counts.json"),
    }
    log = folder / "log.txt"
    start = time.time()
    with log.open("w") as stdout:
        process = subprocess.Popen(
            ["/usr/bin/time", "-f", "MAXRSS_KB %M", *command, "config.yaml"],
            cwd=folder,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
        process.wait()
    end = time.time()
    output = log.read_text()
    if process.returncode:
        raise RuntimeError(f"{command} failed:\n{output[-2000:]}")
    counts = json.loads((folder / "counts.json").read_text())
    frames = ase.io.read(folder / "out.xyz", ":")
    if counts["first_call"] is None:  # worker processes made the calls
        reported = re.search(r"(\d+) calculator calls; ([\d.]+) s", output)
        counts = {"calls": int(reported.group(1)), "calculate_s": float("nan")}
        counts["first_call"], counts["exit"] = end - float(reported.group(2)), end
        counts["startup"] = float("nan")
    return {
        "n_out": len(frames),
        "wall": end - start,
        "gen": counts["exit"] - counts["first_call"],
        "startup": counts.get("startup", counts["first_call"] - start),
        "calls": counts["calls"],
        "calculate_s": counts["calculate_s"],
        "rejected": rejections(output),
        "output": folder / "out.xyz",
        "rss_mb": int(re.search(r"MAXRSS_KB (\d+)", output).group(1)) / 1024,
    }


def rejections(log):
    """Rejections by reason from either tool's report."""
    found = dict.fromkeys(REASONS, 0)
    summary = re.search(r"rejected: similar (\d+), force (\d+), separation (\d+)", log)
    if summary:  # asegen's one-line summary
        return dict(zip(REASONS, map(int, summary.groups()), strict=True))
    for count, message in re.findall(r"^\s+(\d+) (.+)$", log, flags=re.MULTILINE):
        text = message.lower()
        reason = (
            "similar"
            if "similar" in text
            else "force"
            if "force" in text
            else "separation"
        )
        found[reason] += int(count)
    return found


def quality(path):
    """Spread of the new structures, relabelled with EMT, and family closeness."""
    frames = ase.io.read(path, ":")
    new = [a for a in frames if int(a.info["level"]) > 0]
    energy, fmax, dmin = [], [], []
    for atoms in new:
        probe = atoms.copy()
        probe.calc = EMT()
        energy.append(probe.get_potential_energy() / len(probe))
        fmax.append(np.linalg.norm(probe.get_forces(), axis=1).max())
        distances = probe.get_all_distances(mic=True)
        dmin.append(distances[np.triu_indices(len(probe), 1)].min())
    near_lattice = near_cartesian = pairs = 0
    families = {}
    for atoms in frames:
        families.setdefault(int(atoms.info["starting-structure"]), []).append(atoms)
    for members in families.values():
        frac = np.array([m.get_scaled_positions(wrap=False) for m in members])
        cart = np.array([m.positions for m in members])
        for i, atoms in enumerate(members):
            cell = atoms.cell.array
            lattice = frac[i] - frac[:i]  # asegen's measure: lattice coordinates
            lattice -= np.round(lattice)
            cartesian = np.linalg.solve(cell.T, (cart[i] - cart[:i]).reshape(-1, 3).T).T
            cartesian = cartesian.reshape(lattice.shape)  # Cartesian, minimum image
            cartesian -= np.round(cartesian)
            for delta, store in ((lattice, "lattice"), (cartesian, "cartesian")):
                distance = np.linalg.norm(delta @ cell, axis=2).mean(axis=1)
                count = int((distance < 0.1).sum())
                if store == "lattice":
                    near_lattice += count
                else:
                    near_cartesian += count
            pairs += i
    return {
        "energy": np.array(energy),
        "fmax": np.array(fmax),
        "dmin": np.array(dmin),
        "near_lattice": near_lattice,
        "near_cartesian": near_cartesian,
        "pairs": pairs,
    }


def median(records, key):
    return statistics.median(record[key] for record in records)


def overhead(records, count):
    """Median over runs of the time outside ``calculate`` per ``count``, in ms."""
    value = 1e3 * statistics.median(
        (record["gen"] - record["calculate_s"]) / count for record in records
    )
    return "–" if np.isnan(value) else f"{value:.2f}"


def row(tool, name, records, seeds):
    n_out = records[0]["n_out"]
    new = n_out - seeds
    calls = median(records, "calls")
    gen, wall = median(records, "gen"), median(records, "wall")
    rejected = records[0]["rejected"]
    return (
        f"| {tool} | {name} | {n_out} | {wall:.2f} | {gen:.2f} | {n_out / gen:.1f} | "
        f"{n_out / wall:.1f} | {calls:.0f} | {calls / new:.2f} | "
        f"{1e3 * median(records, 'calculate_s') / calls:.1f} | "
        f"{median(records, 'calculate_s') / gen:.2f} | "
        f"{overhead(records, calls)} | {overhead(records, new)} | "
        f"{'/'.join(str(rejected[r]) for r in REASONS)} | "
        f"{median(records, 'startup'):.2f} | {median(records, 'rss_mb'):.0f} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor", required=True, help="augment-atoms executable")
    parser.add_argument("--asegen", default=str(Path(sys.executable).parent / "asegen"))
    parser.add_argument(
        "--sets",
        default="cu32,cu32:null,cu108,cu500",
        help="input sets (cu32, cu108, cu500, ljmol); NAME:null runs with "
        "cell_sigma null; ljmol: 10 small molecules, n 10, +lennard_jones()",
    )
    parser.add_argument(
        "--calculator",
        choices=("emt", "chgnet"),
        default="emt",
        help="labeler of both tools (chgnet: installed beside each tool)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="also run asegen -w N")
    parser.add_argument("--out", default="bench-out/augment")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    tools = {"augment-atoms 0.2.0": [args.anchor], "asegen": [args.asegen, "augment"]}
    if args.workers > 1:
        tools[f"asegen --workers {args.workers}"] = [
            args.asegen,
            "augment",
            "--workers",
            str(args.workers),
        ]
    lines = [
        f"`{' '.join(shlex.quote(a) for a in sys.argv)}`",
        "",
        f"Calculator: {args.calculator}. Machine: {os.cpu_count()} cores, "
        f"{cpu_model()}, Python "
        f"{platform.python_version()}; 1 thread per process; medians of "
        f"{args.repeats} fresh runs.",
        "",
        "| tool | set | n_out | wall s | gen s | out/s gen | out/s wall | calls | "
        "calls/new | ms/call | calc share | overhead ms/call | overhead ms/new | "
        "rejected similar/force/sep | to 1st call s | RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    qualities = {}
    for label in args.sets.split(","):
        name, _, variant = label.partition(":")
        settings = {**SETTINGS, "cell_sigma": None} if variant == "null" else SETTINGS
        calculator = args.calculator
        if name == "ljmol":  # the anchor's LJ-mol case: molecules, default LJ
            images = molecules()
            settings = {**settings, "n_per_structure": 10, "cell_sigma": None}
            calculator = "lennard_jones"
        else:
            images = cells(*SETS[name])
        count = len(images)
        for tool, command in tools.items():
            records = []
            for k in range(args.repeats):
                folder = out / label.replace(":", "-") / tool.replace(" ", "_") / str(k)
                folder.mkdir(parents=True, exist_ok=True)
                for stale in ("out.xyz", "counts.json"):
                    (folder / stale).unlink(missing_ok=True)
                ase.io.write(folder / f"{name}_seeds.xyz", images)
                records.append(run_tool(command, folder, name, settings, calculator))
            lines.append(row(tool, label, records, count))
            print(lines[-1], flush=True)
            if "workers" not in tool and name != "ljmol":  # EMT relabels metals
                qualities[label, tool] = quality(records[-1]["output"])
    lines += ["", quality_table(qualities)]
    plot(qualities, out / "augment_diversity.png")
    lines.append(f"\n![diversity]({out / 'augment_diversity.png'})")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def quality_table(qualities):
    lines = [
        "| set | tool | E/atom eV mean ± std | max\\|F\\| eV/Å mean ± std | "
        "min pair distance Å mean ± std [min] | near-duplicate pairs < 0.1 Å: "
        "Cartesian (anchor's measure) / lattice coordinates (asegen's) |",
        "|---|---|---|---|---|---|",
    ]
    for (name, tool), q in qualities.items():
        lines.append(
            f"| {name} | {tool} | {q['energy'].mean():.4f} ± {q['energy'].std():.4f} | "
            f"{q['fmax'].mean():.2f} ± {q['fmax'].std():.2f} | "
            f"{q['dmin'].mean():.3f} ± {q['dmin'].std():.3f} [{q['dmin'].min():.2f}] | "
            f"{q['near_cartesian']} / {q['near_lattice']} of {q['pairs']} |"
        )
    return "\n".join(lines)


def plot(qualities, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(name for name, _ in qualities))
    fig, axes = plt.subplots(
        len(names), 3, figsize=(12, 3.2 * len(names)), squeeze=False
    )
    titles = {
        "energy": "E/atom (eV)",
        "fmax": "max |F| (eV/Å)",
        "dmin": "min pair distance (Å)",
    }
    for r, name in enumerate(names):
        for c, (key, title) in enumerate(titles.items()):
            axis = axes[r, c]
            data = {tool: q[key] for (n, tool), q in qualities.items() if n == name}
            bins = np.histogram_bin_edges(np.concatenate(list(data.values())), bins=25)
            for tool, values in data.items():
                axis.hist(values, bins=bins, histtype="step", label=tool, density=True)
            axis.set_title(f"{name}: {title}")
    axes[0, 0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
