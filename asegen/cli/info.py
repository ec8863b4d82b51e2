"""``asegen info``: summarise a structure file, a run directory or a checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from asegen._run_layout import CHECKPOINTS

__all__ = ["info"]


@click.command()
@click.argument("path", metavar="PATH")
@click.option(
    "--input-format",
    default=None,
    show_default=True,
    help="ase.io format of a non-HDF5 PATH; guessed when not given.",
)
def info(path: str, input_format: str | None) -> None:
    """Summarise the structures in PATH, or the training run PATH.

    For structures, prints the structure count, elements with their atom
    counts, the range of atoms per structure, which labels are present (and in
    how many structures), the info keys and per-atom arrays, and the file
    metadata. PATH is an asegen HDF5 file or anything ASE reads, streamed
    (then there is no metadata).

    For a run directory (logs/version_N) or a checkpoint file (.pt), prints
    the stored model class and its task (what asegen.load returns for it),
    its size, graph options, the epochs trained and the best validation loss.
    For the name of a bundled model (see asegen.pretrained.available()),
    prints its card (data, budget, held-out metrics) too.
    """
    if not Path(path).exists():
        from asegen.pretrained import available, describe

        if path in available():
            click.echo(describe(path))
            _run_info(path)
            return
    if (Path(path) / CHECKPOINTS).is_dir() or path.endswith(".pt"):
        _run_info(path)
        return
    from asegen.data import summarize

    summary = summarize(path, format=input_format)
    lines = [
        f"path:        {summary.path}",
        f"format:      {summary.file_format}",
        f"structures:  {summary.n_structures}",
        f"atoms:       {summary.n_atoms_total} in total, "
        f"{summary.n_atoms_min} to {summary.n_atoms_max} per structure",
        f"elements:    {_counts(summary.elements)}",
        f"labels:      {_counts(summary.labels)}",
        f"info keys:   {_counts(summary.info)}",
        f"arrays:      {_counts(summary.arrays)}",
        f"fixed atoms: {summary.fixed} structures with FixAtoms",
    ]
    if summary.metadata:
        metadata = summary.metadata
        units = ", ".join(f"{k} {v}" for k, v in metadata.get("units", {}).items())
        lines += [
            f"metadata:    {metadata.get('format')} version "
            f"{metadata.get('format_version')}, written by asegen "
            f"{metadata.get('asegen_version')}",
            f"units:       {units}",
        ]
    else:
        lines.append("metadata:    none (not an asegen HDF5 file)")
    click.echo("\n".join(lines))


def _run_info(path: str) -> None:
    from asegen.train.summary import summarize_run

    summary = summarize_run(path)
    lines = [
        f"path:        {summary.path}",
        f"checkpoint:  {summary.checkpoint}",
        f"model:       {summary.model_class}, {summary.parameters:,} parameters "
        f"({summary.dtype})",
        f"task:        {summary.task}; loads as {summary.loads_as}",
        f"graph:       {_pairs(summary.graph)}",
        f"written by:  asegen {summary.asegen_version}",
    ]
    if summary.epochs:
        lines.append(f"epochs:      {summary.epochs} in metrics.csv")
    elif summary.epoch is not None:
        lines.append(f"epoch:       {_epoch(summary.epoch)}")
    if summary.best is not None:
        epoch, loss = summary.best
        lines.append(
            f"best:        validation loss {loss:.6g} at epoch {_epoch(epoch)}"
        )
    if summary.data:
        lines.append(f"data:        {_pairs(summary.data)}")
    click.echo("\n".join(lines))


def _epoch(index: int) -> str:
    """Show an epoch as training counts it (from 1), with its metrics.csv number."""
    return f"{index + 1} (metrics.csv epoch {index})"


def _pairs(values: dict[str, object]) -> str:
    return ", ".join(f"{key} {value}" for key, value in values.items()) or "none"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {count}" for key, count in counts.items()) or "none"
