"""The settings every kind accepts besides its own (today the planner's quota: ``count`` or ``weight``).

One place: a setting added to `CommonSettings` (a field and its reading in `CommonSettings.parse`) is
accepted by every built-in and user kind, is kept out of the kind's own ``settings``, and reaches the kind
as ``kind.common``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from hf_synth.edge_cases.settings import SettingsEnv
from hf_synth.errors import EdgeCaseConfigError

__all__ = ["COMMON_KEYS", "CommonSettings"]


@dataclass(frozen=True)
class CommonSettings:
    """``count``: exact number of rows of the kind (None: share by ``weight``); ``weight``: relative weight
    inside the edge share (1.0 when not given)."""

    count: int | None = None
    weight: float = 1.0

    @classmethod
    def parse(cls, raw: dict[str, Any], env: SettingsEnv) -> CommonSettings:
        """Read the common keys of one kind's raw settings; raises EdgeCaseConfigError naming the key."""
        count, weight = raw.get("count"), raw.get("weight")
        if count is not None and weight is not None:
            raise EdgeCaseConfigError(
                env.key("weight"), "give either 'count' (exact rows) or 'weight', not both"
            )
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise EdgeCaseConfigError(env.key("count"), f"expected a non-negative integer, got {count!r}")
        if weight is not None and (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not weight > 0
            or math.isinf(weight)
        ):
            raise EdgeCaseConfigError(env.key("weight"), f"expected a positive number, got {weight!r}")
        return cls(count=count, weight=1.0 if weight is None else float(weight))


#: The keys `CommonSettings.parse` reads, in declaration order.
COMMON_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CommonSettings))
