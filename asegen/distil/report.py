"""``DIR/REPORT.md`` and the one-line summary of a finished distil run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

__all__ = ["summary_line", "write_report"]


def _read(out: Path) -> dict[str, Any]:
    """Every record a finished run leaves, by name."""
    files = {
        "augment": out / "data" / "augment.json",
        "splits": out / "data" / "splits.json",
        "train": out / "train" / "done.json",
        "parity": out / "validation" / "parity.json",
        "md": out / "validation" / "md.json",
    }
    records = {name: json.loads(path.read_text()) for name, path in files.items()}
    records["run"] = yaml.safe_load((out / "distil.yaml").read_text())
    return records


def _errors(parity: dict[str, Any]) -> list[str]:
    """``"energy 12.3 meV/atom"``-style MAEs of the quantities compared."""
    return [
        f"{name} {parity[name]['mae']:.3g} {parity[name]['unit']}"
        for name in ("energy", "forces", "stress")
        if name in parity
    ]


def summary_line(out: str | Path) -> str:
    """One line: structures and splits, test MAEs, MD verdict, report path."""
    out = Path(out)
    r = _read(out)
    sizes = "/".join(
        str(r["splits"]["splits"][name]["structures"])
        for name in ("train", "val", "test")
    )
    stable = sum(run["stable"] for run in r["md"]["runs"])
    verdict = "stable" if r["md"]["stable"] else "UNSTABLE"
    return (
        f"distil: {r['augment']['structures']} structures ({sizes} train/val/test), "
        f"student test MAE {', '.join(_errors(r['parity']))}; "
        f"MD {verdict} ({stable}/{len(r['md']['runs'])} seeds); {out / 'REPORT.md'}"
    )


def write_report(out: str | Path) -> Path:
    """Write ``OUT/REPORT.md`` from the run's records (left as is when unchanged)."""
    out = Path(out)
    r = _read(out)
    run, parity, md, train = r["run"], r["parity"], r["md"], r["train"]
    config = run["config"]
    lines = [
        "# Distilled force field",
        "",
        f"Teacher `{run['teacher']}`, {run['seeds']['structures']} seeds from "
        f"`{run['seeds']['file']}`.",
        "",
        "## Data",
        f"{r['augment']['structures']} structures grown by the Augmenter "
        f"({r['augment']['n_per_structure']} per seed) and labelled by the teacher: "
        "`data/augmented.h5`. Split by family branch (a seed's level-1 child and "
        "all its descendants go to one split): "
        + ", ".join(
            f"{name} {info['structures']}"
            for name, info in r["splits"]["splits"].items()
        )
        + ".",
        "",
        "## Student",
        f"ALIGNN force field `train/{train['run']}` "
        f"({config['model'].get('hidden_features')} features, "
        f"{config['model'].get('alignn_layers')} ALIGNN + "
        f"{config['model'].get('gcn_layers')} GCN layers): {train['epochs']} epochs "
        f"in {train['minutes']} min, best validation epoch {train['best_epoch']} "
        'kept: `ALIGNNCalculator.load("<this folder>/train/' + f'{train["run"]}")`.',
        "",
        f"## Held-out parity against the teacher ({parity['structures']} test "
        "structures)",
        "",
        "| quantity | MAE | RMSE | values |",
        "|---|---|---|---|",
    ]
    for name in ("energy", "forces", "stress"):
        if name in parity:
            q = parity[name]
            lines.append(
                f"| {name} | {q['mae']:.4g} {q['unit']} | {q['rmse']:.4g} {q['unit']} "
                f"| {q['values']} |"
            )
    lines += [""]
    lines += [
        f"![{name} parity](validation/parity_{name}.png)"
        for name in ("energy", "forces", "stress")
        if name in parity
    ]
    settings = md["settings"]
    lines += [
        "",
        f"## NVE stability ({settings['steps']} steps of {settings['timestep']} fs, "
        f"{settings['temperature']} K initial)",
        "",
        f"Verdict: **{'stable' if md['stable'] else 'unstable'}** (stable: finite "
        f"energy, temperature below {settings['max_temperature']} K, no two atoms "
        f"closer than {settings['min_distance_ratio']} x the seed's shortest "
        "distance).",
        "",
        "| seed | atoms | steps | drift (meV/atom) | max T (K) | closest (Å) | "
        "verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in md["runs"]:
        verdict = "stable" if item["stable"] else f"unstable: {item['reason']}"
        lines.append(
            f"| {item['seed']} {item['formula']} | {item['atoms']} | {item['steps']} "
            f"| {item['drift_meV_per_atom']} | {item['max_temperature_K']} "
            f"| {item['min_distance_A']} | {verdict} |"
        )
    lines += ["", "![MD energy](validation/md_energy.png)", ""]
    text = "\n".join(lines)
    path = out / "REPORT.md"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path
