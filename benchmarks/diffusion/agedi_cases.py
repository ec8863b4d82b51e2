"""The cases of ``compare_agedi.py``: a training set, a request and each tool's noisers.

The four cases AGeDi was measured on (specs/diffusion.md, section 11), each a
set of ``make_data.py``. Standard library only: the anchor's interpreter
imports this module too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The window of the slab set's mobile atoms, Å (``make_data.WINDOW``).
WINDOW = (9.5, 13.0)


@dataclass(frozen=True)
class Case:
    """One comparison of AGeDi and asegen.

    Attributes
    ----------
    data
        The ``make_data.py`` set both tools train on (``DATA.h5``).
    formula
        Composition of the generated atoms (added to the template if any).
    epochs
        Training epochs of both tools: the spec's budget (40 bulk, 20 slab,
        100 clusters), 100 for the 8-atom cells as in the first comparison.
    agedi_noisers
        AGeDi's noisers (``train_from_atoms(noisers=...)``).
    asegen_options
        Options of ``asegen train diffusion`` that choose the same task.
    cell
        Lengths of the orthorhombic sampling cell, Å; ``None``: the
        template's cell, or none at all (clusters).
    template
        The ``make_data.py`` file whose structure the samples fill.
    confinement
        ``(lo, hi)`` heights of the generated atoms, Å.
    agedi_options
        Further keywords of AGeDi's ``train_from_atoms``.
    """

    data: str
    formula: str
    epochs: int
    agedi_noisers: tuple[str, ...]
    asegen_options: tuple[str, ...]
    cell: tuple[float, float, float] | None = None
    template: str | None = None
    confinement: tuple[float, float] | None = None
    agedi_options: dict = field(default_factory=dict)

    @property
    def periodic(self) -> bool:
        """Whether samples have a cell (bulk and slabs; clusters have none)."""
        return self.cell is not None or self.template is not None


CASES = {
    # 8-atom fcc cells 7.7 x 3.85 x 3.85 Å, positions and types in the cell
    "cuau8": Case(
        "cuau8", "Cu4Au4", 100, ("CellPositions", "Types"), ("--no-cell",),
        cell=(7.7, 3.85, 3.85),
    ),
    # 32-atom cubes 7.7 Å
    "cuau32": Case(
        "cuau32", "Cu16Au16", 40, ("CellPositions", "Types"), ("--no-cell",),
        cell=(7.7, 7.7, 7.7),
    ),
    # Cu9Au3 onto the fixed 18-atom Cu(111) slab, confined to the window:
    # AGeDi's confined noiser with its FixAtoms mask, asegen's surface noiser
    "slab": Case(
        "slab", "Cu9Au3", 20, ("ConfinedCellPositions", "Types"),
        ("--noiser", "surface", "--set", f"diffusion.confinement={list(WINDOW)}"),
        template="slab_template", confinement=WINDOW,
        agedi_options={"mask": "MaskFixed", "confinement": list(WINDOW)},
    ),
    # gas-phase 8-atom clusters without cell: both tools' gas noiser (VP SDE)
    "cluster8": Case(
        "cluster8", "Cu4Au4", 100, ("Positions", "Types"), ("--noiser", "gas"),
    ),
}  # fmt: skip
