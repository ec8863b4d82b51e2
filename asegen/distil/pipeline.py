"""``distil``: teacher-labelled augmentation -> split -> ALIGNN student -> checks.

Every stage writes into one folder and leaves a completion marker; a rerun
skips the stages whose marker exists and resumes the one that was
interrupted with that stage's own resume (augment tops its families up,
training continues from ``last.pt``)::

    DIR/distil.yaml               teacher, seeds and settings of the run
    DIR/data/augmented.h5         the teacher's structures   marker: augment.json
    DIR/data/{train,val,test}.h5  split by family branch     marker: splits.json
    DIR/train/version_0/          the student's run          marker: train/done.json
    DIR/validation/parity.json    student vs teacher on test (and parity_*.png)
    DIR/validation/md.json        NVE stability per seed     (and md_energy.png)
    DIR/REPORT.md                 the summary
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from asegen._run_layout import LAST, METRICS, checkpoint_path
from asegen.augment import AugmentSettings, run_config
from asegen.augment.io import output_lock, read_inputs
from asegen.augment.resume import as_images
from asegen.distil.config import (
    RERUN_MAY_CHANGE,
    DistilConfig,
    first_difference,
    load_distil_config,
)
from asegen.distil.inputs import (
    RECORD,
    build_teacher,
    check_out,
    fingerprint,
)
from asegen.distil.md import nve_check
from asegen.distil.parity import parity
from asegen.distil.report import summary_line, write_report
from asegen.distil.split import split_by_branch, write_splits
from asegen.errors import ConfigError

__all__ = ["STAGES", "DistilResult", "distil"]

STAGES = ("augment", "split", "train", "validate")
RUN = "version_0"
AUGMENTED = Path("data") / "augmented.h5"


@dataclass
class DistilResult:
    """What a distil call left in its folder.

    Attributes
    ----------
    out
        The folder.
    ran
        The stages this call ran (the others were complete already, or
        after ``stop_after``).
    run
        The student's run directory (load it with ``ALIGNNCalculator.load``),
        once trained.
    summary
        The one-line summary, once validated.
    """

    out: Path
    ran: list[str] = field(default_factory=list)
    run: Path | None = None
    summary: str = ""


@dataclass
class _Plan:
    out: Path
    seeds_path: Path
    seeds: list[Any]
    teacher: Any
    config: DistilConfig
    augment: AugmentSettings


def distil(
    teacher: Any,
    seeds: str | os.PathLike,
    out: str | os.PathLike,
    *,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    workers: int = 1,
    stop_after: str | None = None,
    progress: bool | None = None,
) -> DistilResult:
    """Turn a teacher calculator into a small ALIGNN force field for the seeds.

    The seeds are grown with the Augmenter labelled by the teacher, split by
    family branch into train/validation/test, an ALIGNN force field is
    trained on train (best validation epoch kept) and checked against the
    teacher on test (energy, forces, stress) and by a short NVE run from
    each seed. Everything lands in ``out`` (layout in the module docstring);
    calling again with the same arguments resumes or, when finished, does
    nothing.

    Parameters
    ----------
    teacher
        A calculator spec as augment configs write it (see
        :func:`asegen.distil.inputs.build_teacher`) or an ASE calculator.
    seeds
        The starting structures: any file :func:`asegen.data.read_structures`
        reads.
    out
        The run's folder: new, empty, or holding this run.
    config
        A distil config (file or mapping; :mod:`asegen.distil.config`).
    overrides
        ``section.key=value`` strings, e.g. ``"train.epochs=50"``.
    workers
        Augmenter worker processes.
    stop_after
        Stop after this stage (one of :data:`STAGES`); a later call goes on.
    progress
        Progress bars (default: when stderr is a terminal).

    Raises
    ------
    asegen.errors.AsegenError
        For a mistake in the inputs, caught before any work (the seeds, the
        teacher spec, the config, ``out``, or a rerun whose settings differ
        from the run's), or a teacher that fails on a seed.
    """
    if stop_after is not None and stop_after not in STAGES:
        raise ConfigError(f"stop_after must be one of {STAGES}, got {stop_after!r}")
    plan = _prepare(teacher, seeds, out, config, overrides)
    result = DistilResult(plan.out)
    with output_lock(plan.out / RECORD):
        for stage in STAGES:
            if not _done(plan.out, stage):
                _say(f"distil: {stage}")
                _STAGE_RUNNERS[stage](plan, workers=workers, progress=progress)
                result.ran.append(stage)
            if stage == stop_after:
                break
        if _done(plan.out, "train"):
            result.run = plan.out / "train" / RUN
        if _done(plan.out, "validate"):
            write_report(plan.out)
            result.summary = summary_line(plan.out)
    if not result.ran:
        done = "every stage" if result.summary else f"every stage to {stop_after}"
        _say(f"distil: {done} was complete already; nothing to do")
    return result


def _prepare(
    teacher: Any,
    seeds: str | os.PathLike,
    out: str | os.PathLike,
    config: str | os.PathLike | Mapping[str, Any] | None,
    overrides: Iterable[str],
) -> _Plan:
    """Check every input, then create ``out`` and record the run.

    Once the run has made data, its record binds: a rerun must give the same
    teacher, seeds and settings (but :data:`RERUN_MAY_CHANGE`).
    """
    out = check_out(out)
    images = read_inputs(seeds)
    settings = load_distil_config(config, overrides=overrides)
    augment = settings.augment_settings(len(images))
    images = as_images(images, min_separation=augment.min_separation, source=str(seeds))
    calculator, spec = build_teacher(teacher)
    record = {
        "teacher": spec,
        "seeds": {
            "file": str(seeds),
            "structures": len(images),
            "sha256": fingerprint(images),
        },
        "config": settings.as_data(),
    }
    path = out / RECORD
    if (out / AUGMENTED).exists():  # work was done: the record binds
        _compare(path, record)
    else:
        out.mkdir(parents=True, exist_ok=True)
        _write_text(path, yaml.safe_dump(_plain(record), sort_keys=False))
    return _Plan(out, Path(seeds), images, calculator, settings, augment)


def _compare(path: Path, record: dict[str, Any]) -> None:
    """Refuse a rerun whose teacher, seeds or settings differ from the run's."""
    if not path.is_file():
        raise ConfigError(f"{path} is missing; give another --out")
    stored = yaml.safe_load(path.read_text())
    new = _plain(record)
    if stored.get("seeds", {}).get("sha256") != new["seeds"]["sha256"]:
        raise ConfigError(
            f"{path.parent} was started from other seeds "
            f"({stored['seeds']['file']}); give those, or another --out"
        )
    if stored.get("teacher") != new["teacher"]:
        raise ConfigError(
            f"{path.parent} was started with the teacher {stored.get('teacher')}; "
            "give that one, or another --out"
        )
    found = first_difference(
        stored.get("config"), new["config"], ignore=RERUN_MAY_CHANGE
    )
    if found is not None:
        key, old, value = found
        raise ConfigError(
            f"{path.parent} was started with {key}={old}, not {value}; rerun with "
            "the same settings to resume, or give another --out"
        )


def _plain(value: Any) -> Any:
    """Nested mappings, lists and scalars only (tuples become lists)."""
    return json.loads(json.dumps(value))


def _done(out: Path, stage: str) -> bool:
    return _marker(out, stage).is_file()


def _marker(out: Path, stage: str) -> Path:
    return {
        "augment": out / "data" / "augment.json",
        "split": out / "data" / "splits.json",
        "train": out / "train" / "done.json",
        "validate": out / "validation" / "md.json",
    }[stage]


def _augment(plan: _Plan, *, workers: int, progress: bool | None) -> None:
    """Grow the seeds with the teacher into ``data/augmented.h5`` (resumes)."""
    from asegen import data

    output = plan.out / AUGMENTED
    output.parent.mkdir(exist_ok=True)
    settings = dataclasses.asdict(plan.augment)
    stats = run_config(
        {
            "data": {"input": str(plan.seeds_path), "output": str(output)},
            "config": settings,
            "model": {"calculator": plan.teacher},
        },
        workers=workers,
        progress=progress is not False,
    )
    _say(f"distil: augment: {stats.summary()}")
    total = len(data.read(output))
    _write_json(
        _marker(plan.out, "augment"),
        {
            "file": output.name,
            "structures": total,
            "seeds": len(plan.seeds),
            "n_per_structure": plan.augment.n_per_structure,
        },
    )


def _split(plan: _Plan, **_: Any) -> None:
    """Split ``augmented.h5`` by family branch into train, val and test files."""
    from asegen import data

    images = data.read(plan.out / AUGMENTED)
    settings = plan.config.split
    splits = split_by_branch(images, settings.fractions, settings.seed)
    empty = [name for name in ("train", "val", "test") if name not in splits]
    if empty:
        raise ConfigError(
            f"the {len(images)} augmented structures give no {empty[0]} split (a "
            "branch of a family goes whole to one split); start again in another "
            "--out with more --structures"
        )
    files = write_splits(images, splits, plan.out / "data")
    _write_json(
        _marker(plan.out, "split"),
        {
            "rule": "by branch: seeds in train; each level-1 child of a seed and "
            "all its descendants in one split",
            "fractions": list(settings.fractions),
            "seed": settings.seed,
            "splits": files,
        },
    )


def _train(plan: _Plan, *, progress: bool | None, **_: Any) -> None:
    """Train the student on train.h5 (validation: val.h5); resume from last.pt."""
    from asegen.train.runner import train_from_config

    folder = plan.out / "train"
    run = folder / RUN
    resume = checkpoint_path(run, LAST).is_file()
    if run.exists() and not resume:
        shutil.rmtree(run)  # stopped before its first epoch ended: nothing kept
    # the engine writes its report last: a run stopped after it has ended (a
    # resume would train one more epoch past a time budget)
    if not (run / "test_predictions.csv").is_file():
        train_from_config(
            "alignn",
            plan.config.run_config(),
            data=plan.out / "data" / "train.h5",
            val=plan.out / "data" / "val.h5",
            out=run if resume else folder,
            resume=resume,
            progress=progress,
        )
    with (run / METRICS).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    best = min(rows, key=lambda r: float(r["val_loss"]))
    _write_json(
        _marker(plan.out, "train"),
        {
            "run": RUN,
            "epochs": len(rows),
            "best_epoch": int(best["epoch"]) + 1,
            "best_val_loss": float(best["val_loss"]),
            "minutes": round(sum(float(r["seconds"]) for r in rows) / 60, 2),
        },
    )


def _validate(plan: _Plan, **_: Any) -> None:
    """Parity against the teacher on test.h5; NVE from every seed."""
    from asegen import data
    from asegen.calculators import ALIGNNCalculator

    folder = plan.out / "validation"
    folder.mkdir(exist_ok=True)
    device = plan.config.train.get("device", "auto")
    student = ALIGNNCalculator.load(plan.out / "train" / RUN, device=device)
    parity_file = folder / "parity.json"
    if not parity_file.is_file():
        test = data.read(plan.out / "data" / "test.h5")
        _write_json(parity_file, parity(student, test, folder))
    report = nve_check(student, plan.seeds, plan.config.md, folder / "md_energy.png")
    report["settings"] = dataclasses.asdict(plan.config.md)
    _write_json(_marker(plan.out, "validate"), report)


_STAGE_RUNNERS = {
    "augment": _augment,
    "split": _split,
    "train": _train,
    "validate": _validate,
}


def _write_json(path: Path, value: Any) -> None:
    _write_text(path, json.dumps(value, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary file, then a rename)."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(text)
    os.replace(handle.name, path)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
