"""The run directory ``OUT/version_N/``: its files, versions and metrics log."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from pathlib import Path

from asegen._run_layout import CHECKPOINTS
from asegen.data._layout import permission_denied
from asegen.errors import ConfigError

__all__ = ["MetricsLog", "latest_run", "new_run"]

_VERSION = re.compile(r"version_(\d+)$")


def _versions(out: Path) -> list[tuple[int, Path]]:
    if not out.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in out.iterdir() if (m := _VERSION.match(p.name))
    ]
    return sorted(found)


def new_run(out: str | os.PathLike) -> Path:
    """Create and return ``out/version_N`` with the next free ``N``.

    Raises
    ------
    asegen.errors.ConfigError
        If ``out`` is a file or lies in one.
    asegen.errors.DataFormatError
        If this user may not create folders there (permission denied).
    """
    out = Path(out)
    versions = _versions(out)
    number = versions[-1][0] + 1 if versions else 0
    run = out / f"version_{number}"
    try:
        (run / CHECKPOINTS).mkdir(parents=True)
    except (NotADirectoryError, FileExistsError):
        raise ConfigError(
            f"the runs folder {out} is a file or lies in one; give a folder (--out)"
        ) from None
    except PermissionError as err:
        raise permission_denied(out, err) from None
    return run


def latest_run(out: str | os.PathLike) -> Path | None:
    """Return ``out`` if it is a run directory, else its newest ``version_N``."""
    out = Path(out)
    if (out / CHECKPOINTS).is_dir():
        return out
    versions = _versions(out)
    return versions[-1][1] if versions else None


class MetricsLog:
    """Append one row per epoch to ``metrics.csv``, flushed at once.

    The columns are declared up front; a row with a name outside them is a
    bug in the task that produced it and raises, so no metric is dropped
    silently. On resume, rows of epochs at or after ``start_epoch`` (written
    by the interrupted run after its last checkpoint) are dropped first, so
    the file never holds an epoch twice; the kept rows are rewritten under
    the current columns.
    """

    def __init__(
        self, path: Path, columns: Iterable[str], *, start_epoch: int = 0
    ) -> None:
        self.path = path
        self.columns = list(columns)
        rows: list[dict[str, str]] = []
        if path.exists() and start_epoch > 0:
            with path.open(newline="") as handle:
                rows = [
                    r for r in csv.DictReader(handle) if int(r["epoch"]) < start_epoch
                ]
        partial = path.with_name(path.name + ".partial")  # replaced at once
        with partial.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)  # an older file may hold retired columns
        os.replace(partial, path)

    def append(self, row: dict[str, float | int]) -> None:
        """Write one row; missing columns stay empty.

        Raises
        ------
        ValueError
            If the row names a column that was not declared.
        """
        undeclared = sorted(set(row) - set(self.columns))
        if undeclared:
            raise ValueError(
                f"metrics {undeclared} are not among the declared columns of "
                f"{self.path.name}; declare them in the task's metrics"
            )
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, self.columns)
            writer.writerow({k: _fmt(v) for k, v in row.items()})
            handle.flush()

    def read(self) -> list[dict[str, str]]:
        """Return every row written so far."""
        with self.path.open(newline="") as handle:
            return list(csv.DictReader(handle))


def _fmt(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.8g}"
