"""User-defined kinds: any other name with ``{instruction: "...", check: <check> | [<check>, ...] | null}``
and optionally ``field`` (the field text checks look at; default the text field). Check names: see
`hf_synth.edge_cases.checks`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from hf_synth.edge_cases.base import EdgeContext, EdgeKind, Mode
from hf_synth.edge_cases.checks import all_of, parse_user_check, user_check_list
from hf_synth.errors import EdgeCaseConfigError

if TYPE_CHECKING:
    from hf_synth.edge_cases.settings import SettingsEnv

__all__ = ["UserKind"]


class UserKind(EdgeKind):
    """A recipe-defined kind: an instruction for the LLM and optional built-in checks."""

    mode: ClassVar[Mode] = "instructed"
    allowed: ClassVar[tuple[str, ...]] = ("instruction", "check", "field")

    @classmethod
    def resolve(cls, raw: dict[str, Any], env: SettingsEnv) -> dict[str, Any]:
        text = raw.get("instruction")
        if not isinstance(text, str) or not text.strip():
            raise EdgeCaseConfigError(env.key("instruction"), "expected a non-empty instruction string")
        name = env.field(raw, types=("string",))
        spec = raw.get("check")
        specs = [] if spec is None else [spec] if isinstance(spec, str) else spec
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise EdgeCaseConfigError(
                env.key("check"), f"expected a check name or a list of them: {user_check_list()}"
            )
        for i, s in enumerate(specs):  # validate now, so errors carry the key path
            path = env.key("check") + (f"[{i}]" if isinstance(spec, list) else "")
            parse_user_check(s, name, env.fields, path)
        return {"instruction": text.strip(), "field": name, "check": specs}

    def __post_init__(self) -> None:
        # Callables live outside `settings` so the settings stay plain data (JSON-able for reports).
        self._check = all_of(
            *(parse_user_check(s, self.settings["field"], None, "") for s in self.settings["check"])
        )

    def instruction(self, context: EdgeContext) -> str | None:
        return f"Edge case ({self.name}): {self.settings['instruction']}"

    def check(self, item: dict[str, Any], context: EdgeContext) -> str | None:
        return self._check(item, context)
