"""``asegen info``: summarise a structure file."""

from __future__ import annotations

import click

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
    """Summarise the structures in PATH.

    Prints the structure count, elements with their atom counts, the range of
    atoms per structure, which labels are present (and in how many structures),
    the info keys and per-atom arrays, and the file metadata. PATH is an asegen
    HDF5 file or anything ASE reads, streamed (then there is no metadata).
    """
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


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {count}" for key, count in counts.items()) or "none"
