"""``edge_cases.kinds`` of a recipe → `EdgeKind` objects, every error naming its key path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hf_synth.edge_cases.base import EdgeKind
from hf_synth.edge_cases.common import COMMON_KEYS, CommonSettings
from hf_synth.edge_cases.registry import BUILTIN_KINDS
from hf_synth.edge_cases.settings import SettingsEnv
from hf_synth.edge_cases.user import UserKind
from hf_synth.errors import EdgeCaseConfigError

if TYPE_CHECKING:
    from hf_synth.recipe.fields import FieldSpec

__all__ = ["build_kinds"]


def build_kinds(
    config: Mapping[str, Mapping[str, Any] | None],
    fields: Mapping[str, FieldSpec],
    text_field: str,
    dimensions: Mapping[str, list[str]],
    path: str = "edge_cases.kinds",
) -> list[EdgeKind]:
    """Validate ``edge_cases.kinds`` and build one `EdgeKind` per entry, in config order.

    ``config`` maps kind name → settings (None counts as {}); ``fields`` are the recipe fields,
    ``text_field`` the main string field, ``dimensions`` name → values (strings). Raises
    `EdgeCaseConfigError` whose path names the offending key, e.g. ``edge_cases.kinds.empty_field.field``.
    """
    if not isinstance(config, Mapping):
        raise EdgeCaseConfigError(
            path, f"expected a mapping of kind name to settings, got {type(config).__name__}"
        )
    fields = dict(fields)
    dims = {k: list(v) for k, v in dimensions.items()}
    kinds: list[EdgeKind] = []
    for name, raw in config.items():
        env = SettingsEnv(fields, text_field, dims, f"{path}.{name}")
        raw = _raw_settings(name, raw, env)
        cls = _kind_class(name, raw, env)
        _refuse_unknown_keys(cls, name, raw, env)
        common = CommonSettings.parse(raw, env)
        settings = cls.resolve({k: v for k, v in raw.items() if k not in COMMON_KEYS}, env)
        kind = cls(name=name, settings=settings, common=common)
        common.check_partner(kind.partner, name, env)
        kinds.append(kind)
    return kinds


def _raw_settings(name: Any, raw: Any, env: SettingsEnv) -> dict[str, Any]:
    """The kind's settings as a new dict (None → {}); refuses a bad or reserved kind name."""
    if not isinstance(name, str) or not name.strip():
        raise EdgeCaseConfigError(env.path, "a kind name must be a non-empty string")
    if name == "none":
        raise EdgeCaseConfigError(env.path, "'none' is reserved for rows without an edge case")
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise EdgeCaseConfigError(env.path, f"expected a mapping of settings, got {raw!r:.60}")
    return dict(raw)


def _kind_class(name: str, raw: dict[str, Any], env: SettingsEnv) -> type[EdgeKind]:
    """The built-in class of ``name``, else `UserKind` when the settings carry an instruction."""
    cls = BUILTIN_KINDS.get(name)
    if cls is not None:
        return cls
    if "instruction" not in raw:
        raise EdgeCaseConfigError(
            env.path,
            f"unknown edge-case kind; built-in kinds are: {', '.join(BUILTIN_KINDS)}; "
            "a user-defined kind needs an 'instruction' (and optionally a 'check')",
        )
    return UserKind


def _refuse_unknown_keys(cls: type[EdgeKind], name: str, raw: dict[str, Any], env: SettingsEnv) -> None:
    for key in raw:
        if key not in cls.allowed and key not in COMMON_KEYS:
            accepted = ", ".join((*cls.allowed, *COMMON_KEYS))
            hint = (
                f" ({name} is a built-in kind; to define your own kind, pick another name)"
                if cls is not UserKind and key in ("instruction", "check")
                else ""
            )
            raise EdgeCaseConfigError(env.key(str(key)), f"unknown setting; {name} accepts: {accepted}{hint}")
