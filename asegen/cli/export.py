"""``asegen export``: a trained model as a TorchScript file for non-Python hosts."""

from __future__ import annotations

from pathlib import Path

import click

from asegen.errors import ConfigError, InputNotFoundError, OutputExistsError

__all__ = ["export"]


@click.command()
@click.argument("run", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64"]),
    default="float32",
    show_default=True,
    help="Floating-point precision of the exported module.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT.")
def export(run: Path, out: Path, dtype: str, overwrite: bool) -> None:
    """Export the model of RUN (a run directory or checkpoint) to TorchScript OUT.

    The module takes (positions, cell, atomic numbers, edge_index, shifts,
    compute_stress) for one structure and returns energy, per-atom energies,
    forces and stress in eV, Å, eV/Å and eV/Å³. The edges must be the model's
    graph (every pair within its cutoff, as asegen.graph.neighbor_list gives);
    the cutoff is stored in the file's metadata.json. An existing OUT is
    replaced only with --overwrite; its folder must exist.
    """
    _check_output(out, overwrite=overwrite)
    import torch

    from asegen.models.checkpoint import load_checkpoint
    from asegen.models.export import export_torchscript

    model, _ = load_checkpoint(run)
    model = model.to(torch.float64 if dtype == "float64" else torch.float32)
    export_torchscript(model, out)
    click.echo(f"wrote {out} (cutoff {model.graph_options()['cutoff']} Å, {dtype})")


def _check_output(out: Path, *, overwrite: bool) -> None:
    """Refuse an OUT that is a folder, lies in a missing folder, or exists."""
    if out.is_dir():
        raise ConfigError(
            f"{out} is a folder; give the file to write, e.g. {out / 'model.pt'}"
        )
    folder = out.parent
    if not folder.is_dir():
        raise InputNotFoundError(
            f"the folder {folder} of {out} does not exist; create it or choose "
            "another OUT"
        )
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
