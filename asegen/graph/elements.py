"""Per-element feature tables, indexed by atomic number.

=================  =====  ==================================================
name               width  content
=================  =====  ==================================================
``cgcnn``          92     CGCNN one-hot element table (Z = 1..100); as in
                          alignn, Z > 100 reuses the Z = 100 row
``basic``          11     Z, group, row, electronegativity, atomic radius,
                          s/p/d/f valence electrons, first ionisation energy,
                          electron affinity (Z = 1..103)
``atomic_number``  1      Z as a float
=================  =====  ==================================================

Sources and licence: ``asegen/graph/tables/NOTICE.md``. Rows of elements a
table does not cover are zero.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import torch
from torch import Tensor

__all__ = ["ELEMENT_TABLE_WIDTHS", "MAX_ATOMIC_NUMBER", "element_table"]

MAX_ATOMIC_NUMBER = 118

#: Width of each named table.
ELEMENT_TABLE_WIDTHS: dict[str, int] = {"cgcnn": 92, "basic": 11, "atomic_number": 1}


def element_table(name: str) -> Tensor:
    """Return the ``(119, width)`` float64 table ``name``; row ``Z`` is element ``Z``.

    A fresh tensor is returned on every call (the parsed file is cached).
    """
    return _load(name).clone()


@functools.cache
def _load(name: str) -> Tensor:
    if name not in ELEMENT_TABLE_WIDTHS:
        raise ValueError(f"unknown element table {name!r}")
    table = torch.zeros(
        MAX_ATOMIC_NUMBER + 1, ELEMENT_TABLE_WIDTHS[name], dtype=torch.float64
    )
    if name == "atomic_number":
        table[:, 0] = torch.arange(MAX_ATOMIC_NUMBER + 1, dtype=torch.float64)
        return table
    tables = resources.files("asegen.graph").joinpath("tables")
    if name == "cgcnn":
        rows = json.loads(tables.joinpath("cgcnn_atom_init.json").read_text())
    else:
        rows = json.loads(tables.joinpath("basic_features.json").read_text())["rows"]
    for key, values in rows.items():
        table[int(key)] = torch.tensor(values, dtype=torch.float64)
    if name == "cgcnn":
        table[101:] = table[100]
    return table
