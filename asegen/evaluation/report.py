"""The result of an evaluation: per-sample arrays, summary table, JSON and plot."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from ase import Atoms

__all__ = ["EvaluationReport", "Metric"]


class Metric(NamedTuple):
    """One row of the report: a value, and a count of a total where it is a fraction."""

    key: str
    label: str
    value: float | None
    count: int | None = None
    total: int | None = None


def _fraction(key: str, label: str, flags: Iterable[bool | None]) -> Metric:
    known = [bool(f) for f in flags if f is not None]
    hits = sum(known)
    return Metric(key, label, hits / len(known) if known else None, hits, len(known))


def metric_table(rows: Iterable[Metric]) -> str:
    """Return metrics as a plain-text table: label, value, count (of total)."""
    cells = [("metric", "value", "count")]
    for m in rows:
        value = "" if m.value is None else f"{m.value:.3f}"
        count = "" if m.count is None else str(m.count)
        if m.total is not None:
            count = f"{m.count}/{m.total}"
        cells.append((m.label, value, count))
    w0, w1, w2 = (max(len(r[c]) for r in cells) for c in range(3))
    lines = [f"{a:<{w0}}  {b:>{w1}}  {c:>{w2}}" for a, b, c in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def metric_summary(rows: Iterable[Metric]) -> dict[str, dict[str, Any]]:
    """Return metrics as JSON-ready data: key -> value, count, total."""
    return {m.key: {"value": m.value, "count": m.count, "total": m.total} for m in rows}


def _nan_stats(values: np.ndarray | None) -> tuple[float, float, float]:
    if values is None or not np.isfinite(values).any():
        return math.nan, math.nan, math.nan
    finite = values[np.isfinite(values)]
    return float(finite.mean()), float(np.median(finite)), float(finite.max())


@dataclass
class EvaluationReport:
    """Per-sample results and summary metrics of :func:`.evaluate`.

    Per-sample arrays have one entry per sample, in input order; optional
    ones are ``None`` when the metric was not asked for. Energies are per atom
    in eV; NaN where not computed or where the calculator failed.

    Attributes
    ----------
    settings
        The arguments of the evaluation (thresholds, formula, calculator name).
    reference_min_distance
        Smallest interatomic distance over the reference set, Å.
    threshold
        The validity threshold, ``validity_factor * reference_min_distance``.
    min_distance, valid, in_cell
        Minimum pair distance (Å), ``min_distance > threshold``, and all atoms
        inside the cell along periodic axes, per sample.
    unique, novel
        Matches no earlier sample / no reference structure.
    neutral
        :func:`.charge_neutral` per sample (``None``: not applicable).
    composition_match
        The non-template part has exactly the requested formula.
    template_unchanged
        Template atoms have the template's numbers and positions (1e-6 Å).
    in_window
        Every mobile atom's z inside the confinement window.
    energy_initial, energy_relaxed, rms_displacement, converged
        E/atom before and after relaxation, RMS displacement of mobile atoms
        (Å), and whether the optimizer reached ``fmax``.
    e_above_hull
        Relaxed E/atom minus the reference hull's (NaN outside its span).
    reference_energy
        E/atom of the reference structures (labels, or the calculator's).
    relaxed
        The relaxed samples (empty without a calculator).
    """

    settings: dict[str, Any]
    n_reference: int
    reference_min_distance: float
    threshold: float
    min_distance: np.ndarray
    valid: np.ndarray
    in_cell: np.ndarray
    unique: np.ndarray
    novel: np.ndarray
    neutral: list[bool | None]
    composition_match: np.ndarray | None = None
    template_unchanged: np.ndarray | None = None
    in_window: np.ndarray | None = None
    energy_initial: np.ndarray | None = None
    energy_relaxed: np.ndarray | None = None
    rms_displacement: np.ndarray | None = None
    converged: np.ndarray | None = None
    e_above_hull: np.ndarray | None = None
    reference_energy: np.ndarray | None = None
    relaxed: list[Atoms] = field(default_factory=list, repr=False)

    @property
    def n_samples(self) -> int:
        """The number of samples evaluated."""
        return len(self.min_distance)

    def metrics(self) -> list[Metric]:
        """Return the summary rows of :meth:`table` and :meth:`to_dict`."""
        s = self.settings
        rows = [
            Metric("samples", "samples", None, self.n_samples),
            Metric("reference", "reference structures", None, self.n_reference),
            Metric("reference_min_distance", "reference d_min (Å)",
                   self.reference_min_distance),
            _fraction("valid", f"valid (d_min > {self.threshold:.3f} Å)", self.valid),
            _fraction("in_cell", "all atoms inside the cell", self.in_cell),
        ]  # fmt: skip
        if self.template_unchanged is not None:
            rows.append(
                _fraction("template_unchanged", "template unchanged",
                          self.template_unchanged)
            )  # fmt: skip
        if self.in_window is not None:
            rows.append(_fraction("in_window", "inside confinement", self.in_window))
        if self.composition_match is not None:
            rows.append(
                _fraction("composition_match", f"composition {s['formula']}",
                          self.composition_match)
            )  # fmt: skip
        matched = "relaxed" if self.relaxed else "as generated"
        rows += [
            _fraction("charge_neutral", "charge neutral (where applicable)",
                      self.neutral),
            _fraction("unique", f"unique ({matched})", self.unique),
            _fraction("novel", f"novel ({matched})", self.novel),
            _fraction("valid_unique_novel", "valid, unique and novel",
                      self.valid & self.unique & self.novel),
        ]  # fmt: skip
        if self.energy_relaxed is not None:
            rows += self._energy_metrics()
        return rows

    def _energy_metrics(self) -> list[Metric]:
        assert self.energy_relaxed is not None
        assert self.converged is not None
        relaxed = self.energy_relaxed
        ref_mean, ref_median, ref_max = _nan_stats(self.reference_energy)
        mean, median, _ = _nan_stats(relaxed)
        margin = self.settings["energy_margin"]
        ok = np.isfinite(relaxed)
        rows = [
            _fraction("relax_converged", "relaxation converged", self.converged),
            Metric("relax_failed", "relaxation failed", None, int((~ok).sum())),
            Metric("energy_initial_mean", "E/atom before relaxation, mean (eV)",
                   _nan_stats(self.energy_initial)[0]),
            Metric("energy_mean", "E/atom relaxed, mean (eV)", mean),
            Metric("energy_median", "E/atom relaxed, median (eV)", median),
            Metric("reference_energy_mean", "reference E/atom, mean (eV)", ref_mean),
            Metric("reference_energy_median", "reference E/atom, median (eV)",
                   ref_median),
            Metric("reference_energy_max", "reference E/atom, max (eV)", ref_max),
            Metric("rms_displacement_mean", "RMS displacement, mean (Å)",
                   _nan_stats(self.rms_displacement)[0]),
            Metric("rms_displacement_median", "RMS displacement, median (Å)",
                   _nan_stats(self.rms_displacement)[1]),
        ]  # fmt: skip
        if math.isfinite(ref_max):
            rows.append(
                _fraction("within_reference_range",
                          f"E/atom <= reference max + {margin:g} eV",
                          relaxed <= ref_max + margin)
            )  # fmt: skip
        if self.e_above_hull is not None:
            threshold = self.settings["hull_threshold"]
            # no hull for the composition: not applicable; failed relaxation: False
            stable = [
                None if math.isnan(x) and math.isfinite(e) else bool(x <= threshold)
                for x, e in zip(self.e_above_hull, relaxed, strict=True)
            ]
            rows.append(
                _fraction("stable", f"within {threshold:g} eV/atom of hull", stable)
            )
            sun = [
                None if flag is None else flag and v and u and n
                for flag, v, u, n in zip(
                    stable, self.valid, self.unique, self.novel, strict=True
                )
            ]
            rows.append(_fraction("sun", "stable, unique and novel", sun))
        return rows

    def table(self) -> str:
        """Return the summary as a plain-text table: metric, value, count."""
        return metric_table(self.metrics())

    def to_dict(self) -> dict[str, Any]:
        """Return settings, summary and per-sample values as JSON-ready data."""

        def plain(values: Any) -> Any:
            if values is None:
                return None
            return [
                None if isinstance(v, float) and not math.isfinite(v) else v
                for v in np.asarray(values, dtype=object).tolist()
            ]

        summary = metric_summary(self.metrics())
        names = [
            "min_distance", "valid", "in_cell", "unique", "novel", "neutral",
            "composition_match", "template_unchanged", "in_window",
            "energy_initial", "energy_relaxed", "rms_displacement", "converged",
            "e_above_hull",
        ]  # fmt: skip
        samples = {name: plain(getattr(self, name)) for name in names}
        return {
            "settings": self.settings,
            "summary": summary,
            "samples": samples,
            "reference_energy": plain(self.reference_energy),
        }

    def plot(self, path: str | Path) -> Path:
        """Draw histograms of d_min, relaxed E/atom and energy above hull to a PNG.

        Drawn with :class:`matplotlib.figure.Figure`; pyplot and its backend
        are left untouched.
        """
        from matplotlib.figure import Figure

        panels = 1 + (self.energy_relaxed is not None) + (self.e_above_hull is not None)
        fig = Figure(figsize=(4.2 * panels, 3.4))
        axes = np.atleast_1d(fig.subplots(1, panels))
        finite = self.min_distance[np.isfinite(self.min_distance)]
        axes[0].hist(finite, bins=30, color="tab:blue", alpha=0.8, label="samples")
        axes[0].axvline(self.threshold, color="tab:red", ls="--", label="threshold")
        axes[0].axvline(
            self.reference_min_distance, color="black", lw=0.8, label="reference"
        )
        axes[0].set(xlabel="minimum pair distance (Å)", ylabel="samples")
        axes[0].set_title(f"valid {self.valid.mean():.0%} of {self.n_samples}")
        axes[0].legend(fontsize=7)
        if self.energy_relaxed is not None:
            ax = axes[1]
            sample_e = self.energy_relaxed[np.isfinite(self.energy_relaxed)]
            ref = self.reference_energy
            ref_e = ref[np.isfinite(ref)] if ref is not None else np.zeros(0)
            values = np.concatenate([sample_e, ref_e])
            bins = np.histogram_bin_edges(values if len(values) else [0.0], bins=30)
            if len(ref_e):
                ax.hist(ref_e, bins=bins, density=True, alpha=0.5, label="reference")
            if len(sample_e):
                ax.hist(sample_e, bins=bins, density=True, alpha=0.6, label="relaxed")
            ax.set(xlabel="energy per atom (eV)", ylabel="density")
            ax.set_title("relaxed samples vs reference")
            ax.legend(fontsize=7)
        if self.e_above_hull is not None:
            ax = axes[-1]
            above = self.e_above_hull[np.isfinite(self.e_above_hull)]
            limit = self.settings["hull_threshold"]
            span = (
                (min(0.0, above.min()), max(1.5 * limit, above.max()))
                if len(above)
                else None
            )
            ax.hist(above, bins=30, range=span, color="tab:green", alpha=0.8)
            ax.axvline(limit, color="tab:red", ls="--")
            ax.set(xlabel="energy above hull (eV/atom)", ylabel="samples")
            ax.set_title("distance to the reference hull")
        fig.tight_layout()
        target = Path(path)
        fig.savefig(target, dpi=120)
        return target
