"""The settings every kind accepts besides its own: the planner's quota (``count`` or ``weight``) and the
rows the kind may sit on (``where``).

One place: a setting added to `CommonSettings` (a field and its reading in `CommonSettings.parse`) is
accepted by every built-in and user kind, is kept out of the kind's own ``settings``, and reaches the kind
as ``kind.common``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hf_synth.edge_cases.settings import SettingsEnv
from hf_synth.errors import EdgeCaseConfigError

__all__ = ["COMMON_KEYS", "CommonSettings", "Where"]


#: A kind's condition: ((dimension, (allowed values, ...)), ...) in the order the recipe wrote it.
Where = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class CommonSettings:
    """``count``: exact number of rows of the kind (None: share by ``weight``); ``weight``: relative weight
    inside the edge share (1.0 when not given); ``where``: the dimension values the kind's rows must have
    (empty: any row), e.g. ``{sentiment: negative}`` or ``{sentiment: [negative, neutral], product: laptop}``.
    """

    count: int | None = None
    weight: float = 1.0
    where: Where = ()

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
        return cls(
            count=count,
            weight=1.0 if weight is None else float(weight),
            where=_parse_where(raw.get("where"), env),
        )

    def check_partner(self, partner: str | None, name: str, env: SettingsEnv) -> None:
        """A partner rule must be possible inside ``where``: a kind paired across a dimension needs at least
        two allowed values of it (the partner row satisfies the condition too)."""
        if partner is None or not partner.startswith("across:"):
            return
        dim = partner[len("across:") :]
        allowed = dict(self.where).get(dim)
        if allowed is not None and len(allowed) < 2:
            raise EdgeCaseConfigError(
                env.key(f"where.{dim}"),
                f"{name} pairs each row with a row of a different {dim}, and the partner must match the "
                f"condition too, but it allows only {allowed[0]!r}; allow at least two values",
            )


def _parse_where(raw: Any, env: SettingsEnv) -> Where:
    """Read ``where``: a mapping of dimension → value or list of values (as text, see the recipe's values)."""
    if raw is None:
        return ()
    path = env.key("where")
    if not isinstance(raw, Mapping) or not raw:
        raise EdgeCaseConfigError(
            path, "expected a mapping of dimension to value(s), e.g. {sentiment: negative}"
        )
    out = []
    for dim, values in raw.items():
        here = f"{path}.{dim}"
        if dim not in env.dimensions:
            raise EdgeCaseConfigError(here, f"not a dimension; dimensions are: {', '.join(env.dimensions)}")
        items = list(values) if isinstance(values, (list, tuple)) else [values]
        if not items:
            raise EdgeCaseConfigError(here, "expected at least one value")
        known = env.dimensions[dim]
        for v in items:
            if not isinstance(v, str) or v not in known:
                raise EdgeCaseConfigError(
                    here, f"{v!r} is not a value of {dim}; values are: {', '.join(known)}"
                )
        if len(set(items)) != len(items):
            raise EdgeCaseConfigError(here, f"values repeat: {items}")
        out.append((str(dim), tuple(items)))
    return tuple(out)


#: The keys `CommonSettings.parse` reads, in declaration order.
COMMON_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CommonSettings))
