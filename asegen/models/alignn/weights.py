"""alignn's ``best_model.pt`` weights in asegen's ALIGNN layout.

:func:`load_alignn_run` reads an alignn run directory (``config.json`` and
``best_model.pt``, a plain state dict read with ``weights_only=True``) into
the same network; :func:`state_dict_from_alignn` renames alignn's parameters
and fuses its four node maps per convolution into asegen's one.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from asegen.errors import DataFormatError, InputNotFoundError
from asegen.models.alignn.compat import config_from_alignn, strategy_notice
from asegen.models.alignn.network import ALIGNN
from asegen.models.checkpoint import state_dtype

__all__ = ["load_alignn_run", "state_dict_from_alignn"]

# alignn's four node maps of a convolution, in the order of asegen's fused
# node_linear: gate_source | message | gate_target | self_update. alignn's
# dst_update acts on the source node and src_update on the receiving one.
_NODE_MAPS = ("src_gate", "dst_update", "dst_gate", "src_update")
_CONV_NAMES = {
    "edge_gate": "gate_edge",
    "bn_nodes": "norm_nodes",
    "bn_edges": "norm_edges",
}


def state_dict_from_alignn(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename (and fuse) an alignn state dict into asegen's ALIGNN layout.

    alignn's export-only species table is dropped; asegen keeps its element
    table as the frozen ``species`` embedding.
    """
    renamed: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        parts = [p for p in key.split(".") if p != "layer"]  # MLP wrappers
        if parts[0] == "_species_table":
            continue
        if parts[0] == "alignn_layers":
            parts[2] = {"node_update": "atom_conv", "edge_update": "bond_conv"}[
                parts[2]
            ]
        if parts[0] in ("alignn_layers", "gcn_layers"):
            conv = 3 if parts[0] == "alignn_layers" else 2
            if parts[conv] in _NODE_MAPS:
                target = ".".join([*parts[:conv], "node_linear", parts[-1]])
                fused.setdefault(target, {})[parts[conv]] = value
                continue
            parts[conv] = _CONV_NAMES[parts[conv]]
        if parts[0] == "fc_additional_output":
            parts[0] = "fc_additional"
        renamed[".".join(parts)] = value
    for target, pieces in fused.items():
        if set(pieces) != set(_NODE_MAPS):
            missing = sorted(set(_NODE_MAPS) - set(pieces))
            raise DataFormatError(f"alignn weights lack {missing} for {target}")
        renamed[target] = torch.cat([pieces[name] for name in _NODE_MAPS])
    return renamed


def load_alignn_run(path: str | os.PathLike) -> tuple[ALIGNN, dict[str, Any]]:
    """Build asegen's ALIGNN from an alignn run directory.

    Parameters
    ----------
    path
        A directory holding ``config.json`` and ``best_model.pt`` (read with
        ``weights_only=True``).

    Returns
    -------
    model
        The network in float32 (call ``.double()`` for float64).
    training
        The run's TrainingConfig fields (see :func:`config_from_alignn`).

    A run trained on one of alignn's DGL graphs (``neighbor_strategy`` other
    than ``pure_torch``) loads with one line on stderr naming how asegen's
    graph differs.
    """
    path = Path(path)
    config_file, weights_file = path / "config.json", path / "best_model.pt"
    for file in (config_file, weights_file):
        if not file.is_file():
            raise InputNotFoundError(
                f"{file} does not exist; from_alignn needs an alignn run directory "
                "with config.json and best_model.pt"
            )
    try:
        data = json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{config_file} is not valid JSON: {err}") from None
    config, training = config_from_alignn(data)
    notice = strategy_notice(training, str(path))
    if notice:
        print(notice, file=sys.stderr)
    try:
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad files
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataFormatError(
            f"{weights_file} is not a readable state dict ({first[:160]})"
        ) from None
    model = ALIGNN(config).to(state_dtype(state))
    missing, unexpected = model.load_state_dict(
        state_dict_from_alignn(state), strict=False
    )
    expected_missing = {"species.weight", "energy_scale", "reference_energies"}
    if unexpected or set(missing) - expected_missing:
        raise DataFormatError(
            f"{weights_file} does not match its config.json "
            f"(missing {sorted(set(missing) - expected_missing)[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    return model, training
