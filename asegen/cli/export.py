"""``asegen export``: a trained model as a TorchScript file for non-Python hosts."""

from __future__ import annotations

from pathlib import Path

import click

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
def export(run: Path, out: Path, dtype: str) -> None:
    """Export the model of RUN (a run directory or checkpoint) to TorchScript OUT.

    The module takes (positions, cell, atomic numbers, edge_index, shifts,
    compute_stress) for one structure and returns energy, per-atom energies,
    forces and stress in eV, Å, eV/Å and eV/Å³. The edges must be the model's
    graph (every pair within its cutoff, as asegen.graph.neighbor_list gives);
    the cutoff is stored in the file's metadata.json.
    """
    import torch

    from asegen.models.checkpoint import load_checkpoint
    from asegen.models.export import export_torchscript

    model, _ = load_checkpoint(run)
    model = model.to(torch.float64 if dtype == "float64" else torch.float32)
    export_torchscript(model, out)
    click.echo(f"wrote {out} (cutoff {model.graph_options()['cutoff']} Å, {dtype})")
