"""``asegen convert``: convert structures between HDF5 and any ASE format."""

from __future__ import annotations

import click

__all__ = ["convert"]


@click.command()
@click.argument("source", metavar="IN")
@click.argument("target", metavar="OUT")
@click.option(
    "--format",
    "output_format",
    default=None,
    show_default=True,
    help="ase.io format of OUT; guessed from its name, 'vasp' for folders.",
)
@click.option(
    "--input-format",
    default=None,
    show_default=True,
    help="ase.io format of IN (of every file in a folder); guessed when not given.",
)
@click.option(
    "--append",
    is_flag=True,
    show_default=True,
    help="Add to an existing HDF5 OUT. Rerun after a kill to finish the append; "
    "an IN appended before (same path, size and time) is skipped.",
)
@click.option(
    "--overwrite", is_flag=True, show_default=True, help="Replace an existing OUT."
)
@click.option(
    "--compression",
    type=click.Choice(["none", "gzip", "lzf"]),
    default="none",
    show_default=True,
    help="Compression of a new HDF5 OUT (none gives the fastest random access).",
)
def convert(
    source: str,
    target: str,
    output_format: str | None,
    input_format: str | None,
    append: bool,
    overwrite: bool,
    compression: str,
) -> None:
    """Convert between asegen HDF5 and ASE formats, streaming.

    IN is an asegen HDF5 file, any file ASE reads (extxyz, ASE db, ...), an
    alignn training folder (id_prop.json or id_prop.csv), or any other folder,
    whose files are read in natural sort order (e.g. POSCARs). OUT ending
    in .h5 or .hdf5 is asegen HDF5; a folder (existing, or a name ending in /)
    gets one file per structure in --format; any other name is one file in the
    format ASE guesses from it (.db: an ASE database, with info entries in
    key_value_pairs where ASE allows them and in data otherwise).

    \b
    Examples:
      asegen convert train.extxyz train.h5
      asegen convert train.h5 train.db
      asegen convert poscars/ structures.h5
      asegen convert structures.h5 poscars/ --format vasp
    """  # noqa: D301 (click reads the \b marker as a backspace character)
    from asegen.data import convert as convert_structures

    count = convert_structures(
        source,
        target,
        input_format=input_format,
        output_format=output_format,
        append=append,
        overwrite=overwrite,
        compression=None if compression == "none" else compression,
        progress=True,
    )
    click.echo(f"wrote {count} structures to {target}")
