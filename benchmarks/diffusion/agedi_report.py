"""The tables of ``compare_agedi.py``: quality metrics, training rows, markdown.

Reads what the driver recorded (``results.json``); imports nothing of either
tool, so ``--report-only`` rebuilds the tables anywhere.
"""

from __future__ import annotations


def quality(emt: dict, raw: dict) -> dict:
    """The metrics of the comparison from two ``asegen evaluate --json`` files.

    Duplicates need equal compositions, so a sample of another composition
    than the requested one is unique and novel whenever its composition is
    new; the ``*_formula`` values count only the samples of the requested
    composition (of which there are ``formula_n``). With a template or a
    window, ``template_unchanged`` and ``in_window`` are the fractions of
    samples whose template atoms are unchanged and whose new atoms all lie
    inside the window, and ``valid_fill`` those valid with both and the
    requested composition (``None`` without).
    """
    summary, per = emt["summary"], emt["samples"]
    relaxed = [e for e in per["energy_relaxed"] if e is not None]
    reference = emt["reference_energy"]
    lo, hi = min(reference), max(reference) + emt["settings"]["energy_margin"]
    total = summary["samples"]["count"]
    match = per["composition_match"]
    matching = max(sum(match), 1)

    def value(key, source=summary):
        return source[key]["value"]

    def among_matching(flags):
        return sum(bool(f) and bool(m) for f, m in zip(flags, match, strict=True))

    fill = [per[k] for k in ("template_unchanged", "in_window") if per.get(k)]

    return {
        "n": total,
        "valid": value("valid"),
        "composition": value("composition_match"),
        "valid_and_formula": among_matching(per["valid"]) / total,
        "unique_generated": value("unique", raw["summary"]),
        "unique_relaxed": value("unique"),
        "novel_relaxed": value("novel"),
        "formula_n": sum(match),
        "unique_relaxed_formula": among_matching(per["unique"]) / matching,
        "unique_generated_formula": among_matching(raw["samples"]["unique"]) / matching,
        "novel_relaxed_formula": among_matching(per["novel"]) / matching,
        "e_below_max": value("within_reference_range"),
        "stable": value("stable"),
        "e_in_range": sum(lo <= e <= hi for e in relaxed) / total,
        "e_relaxed_mean": value("energy_mean"),
        "rms_displacement": value("rms_displacement_mean"),
        "reference_d_min": value("reference_min_distance"),
        "reference_e": [min(reference), max(reference)],
        "template_unchanged": summary.get("template_unchanged", {}).get("value"),
        "in_window": summary.get("in_window", {}).get("value"),
        "valid_fill": None
        if not fill
        else among_matching([all(f) for f in zip(per["valid"], *fill, strict=True)])
        / total,
    }


def training_row(result: dict) -> dict:
    epochs = len(result["epoch_train_seconds"])
    structures = result["n_train"] * epochs
    train_s = sum(result["epoch_train_seconds"])
    epoch_s = sum(result["epoch_seconds"])
    later = result["epoch_train_seconds"][1:] or result["epoch_train_seconds"]
    return {
        "epochs": epochs,
        "n_train": result["n_train"],
        "parameters": result["parameters"],
        "train_seconds": train_s,
        "epoch_seconds": epoch_s,
        "per_s_train": structures / train_s,
        "per_s_train_after_first": result["n_train"] * len(later) / sum(later),
        "per_s_epoch": structures / epoch_s,
    }


def _others(record: dict, stage: str) -> str:
    """Cores other processes used during ``stage`` (machine load), as text."""
    found = record.get("stages", {}).get(stage)
    return "–" if found is None else f"{found['other_cores']:.2f}"


def _f(value) -> str:
    """A fraction or length with two decimals; "–" where not applicable."""
    return "–" if value is None else f"{value:.2f}"


def _partner(case: dict, cases: list[dict]) -> dict:
    """The AGeDi case whose network calls are closest to ``case``'s."""
    agedi = [c for c in cases if c["tool"] == "agedi"]
    return min(agedi, key=lambda c: (abs(c["calls"] - case["calls"]), c["calls"]))


def markdown(record: dict) -> str:
    """The result tables: training, sampling speed, quality, time split."""
    formula = record.get("case", {}).get("formula", "Cu4Au4")  # cuau8 before cases
    train = record["training"]
    lines = [
        "| tool | parameters | n_train x epochs | training passes s "
        "| structures/s (training passes) | structures/s (after epoch 1) "
        "| structures/s (whole epochs) | other cores |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tool in ("agedi", "asegen"):
        row = train[tool]
        lines.append(
            f"| {tool} | {row['parameters']:,} | {row['n_train']} x {row['epochs']} "
            f"| {row['train_seconds']:.1f} | {row['per_s_train']:.1f} "
            f"| {row['per_s_train_after_first']:.1f} | {row['per_s_epoch']:.1f} "
            f"| {_others(record, 'train-' + tool)} |"
        )
    a, b = train["agedi"], train["asegen"]
    lines.append(
        f"| asegen / agedi | {b['parameters'] / a['parameters']:.2f}x | "
        f"| | {b['per_s_train'] / a['per_s_train']:.2f}x "
        f"| {b['per_s_train_after_first'] / a['per_s_train_after_first']:.2f}x "
        f"| {b['per_s_epoch'] / a['per_s_epoch']:.2f}x | |"
    )
    cases, sampling = record["cases"], record["sampling"]
    default = cases[0]  # AGeDi at its default steps
    lines += [
        "",
        "| case | network calls | samples | s | structures/s "
        "| ms per call and structure | vs AGeDi default | vs AGeDi at equal calls "
        "| other cores |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        s = sampling[case["name"]]
        per_call = 1000 * s["seconds"] / (case["calls"] * s["n"])
        speed = s["structures_per_s"]
        versus = speed / sampling[default["name"]]["structures_per_s"]
        equal = "–"
        if case["tool"] == "asegen":
            other = _partner(case, cases)
            ratio = speed / sampling[other["name"]]["structures_per_s"]
            equal = f"{ratio:.2f}x ({other['name']})"
        lines.append(
            f"| {case['name']} | {case['calls']} | {s['n']} | {s['seconds']:.1f} "
            f"| {speed:.2f} | {per_call:.2f} | {versus:.2f}x | {equal} "
            f"| {_others(record, 'sample-' + case['name'])} |"
        )
    lines += [
        "",
        "| case | valid | composition | unique (generated) | unique (relaxed) "
        "| novel (relaxed) | E/atom <= max+0.02 | E/atom in range "
        "| within 0.1 of hull | RMS disp. Å |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        q = record["quality"][case["name"]]
        lines.append(
            f"| {case['name']} | {_f(q['valid'])} | {_f(q['composition'])} "
            f"| {_f(q['unique_generated'])} | {_f(q['unique_relaxed'])} "
            f"| {_f(q['novel_relaxed'])} | {_f(q['e_below_max'])} "
            f"| {_f(q['e_in_range'])} | {_f(q['stable'])} "
            f"| {_f(q['rms_displacement'])} |"
        )
    lines += [
        "",
        f"| case | valid and {formula} | {formula} samples "
        "| unique (generated) among them "
        "| unique (relaxed) among them | novel (relaxed) among them "
        "| compositions (new atoms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        q = record["quality"][case["name"]]
        formulas = ", ".join(f"{k} {v}" for k, v in q["formulas"].items())
        lines.append(
            f"| {case['name']} | {_f(q['valid_and_formula'])} | {q['formula_n']} "
            f"| {_f(q['unique_generated_formula'])} "
            f"| {_f(q['unique_relaxed_formula'])} "
            f"| {_f(q['novel_relaxed_formula'])} | {formulas} |"
        )
    if any(q.get("valid_fill") is not None for q in record["quality"].values()):
        lines += [
            "",
            f"| case | template unchanged | new atoms inside the window "
            f"| valid, template, window and {formula} |",
            "|---|---|---|---|",
        ]
        for case in cases:
            q = record["quality"][case["name"]]
            lines.append(
                f"| {case['name']} | {_f(q['template_unchanged'])} "
                f"| {_f(q['in_window'])} | {_f(q['valid_fill'])} |"
            )
    if record.get("profile"):
        lines += [
            "",
            "| profile (one batch) | s | network s (calls) | neighbours s (calls) "
            "| full searches | rest s |",
            "|---|---|---|---|---|---|",
        ]
        for name, p in record["profile"].items():
            rest = p["seconds"] - p["network"] - p["neighbours"]
            lines.append(
                f"| {name} | {p['seconds']:.1f} | {p['network']:.1f} "
                f"({p['network_calls']}) | {p['neighbours']:.2f} ({p['nl_calls']}) "
                f"| {p.get('full_searches', '–')} | {rest:.2f} |"
            )
    return "\n".join(lines) + "\n"
