"""What the generation engine fills: one `SlotSpec` per row, from a plan or a gap-filling round."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlotSpec:
    """One row to generate.

    slot_id: unique, stable across resumes (the run store is keyed by it); values: dimension name → value
    string, in recipe order; stratum_id: the values of the stratum dimensions joined with " | ";
    edge_index: 0 for an ordinary row, k for the recipe's k-th edge kind; partner: the slot id whose row an
    edge kind quotes or copies, -1 when none; examples: real reference texts the slot's prompt quotes (drawn
    with the seed, so they are the same on every resume), () when none.
    """

    slot_id: int
    values: dict[str, str]
    stratum_id: str
    edge_index: int = 0
    partner: int = -1
    examples: tuple[str, ...] = ()
