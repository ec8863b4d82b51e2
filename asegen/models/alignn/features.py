"""Element feature tables of ALIGNN: asegen's shared ones plus alignn's ``cfid``.

``cfid`` (438 CFID chemical descriptors per element, Z = 1..103) is alignn's
own table and lives with the model: ``asegen/models/alignn/tables``, with its
source and licence in ``NOTICE.md`` there. The other tables come from
:func:`asegen.graph.elements.element_table`.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import torch
from torch import Tensor

from asegen.graph.elements import ELEMENT_TABLE_WIDTHS, MAX_ATOMIC_NUMBER, element_table

__all__ = ["ALIGNN_TABLE_WIDTHS", "alignn_element_table"]

#: Width of every table ALIGNN reads by name.
ALIGNN_TABLE_WIDTHS: dict[str, int] = {**ELEMENT_TABLE_WIDTHS, "cfid": 438}


def alignn_element_table(name: str) -> Tensor:
    """Return the ``(119, width)`` float64 table ``name`` (row ``Z``: element ``Z``)."""
    if name == "cfid":
        return _cfid().clone()
    return element_table(name)


@functools.cache
def _cfid() -> Tensor:
    text = (
        resources.files("asegen.models.alignn")
        .joinpath("tables", "cfid_features.json")
        .read_text()
    )
    table = torch.zeros(
        MAX_ATOMIC_NUMBER + 1, ALIGNN_TABLE_WIDTHS["cfid"], dtype=torch.float64
    )
    for key, values in json.loads(text)["rows"].items():
        table[int(key)] = torch.tensor(values, dtype=torch.float64)
    return table
