"""The contract between the generation engine and an LLM backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from hf_synth.errors import BackendRefusedError

if TYPE_CHECKING:
    from hf_synth.recipe.fields import FieldSpec


@dataclass(frozen=True)
class GenerationRequest:
    """One call to a model that should return `n_items` items for the slots in `slot_ids`.

    All slots of one request share the same rendered prompt (same dimension values, same edge kind).
    `key` is a hex hash of what was rendered; it is stable across resumes.
    """

    key: str
    slot_ids: tuple[int, ...]
    system: str | None
    prompt: str
    n_items: int
    fields: dict[str, FieldSpec]
    max_tokens: int
    temperature: float
    feedback: str | None = None


@dataclass
class Usage:
    """Token counts and spend of one or more requests (tokens are counts, cost is US dollars)."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_usd += other.cost_usd


@dataclass
class GenerationResult:
    """Raw items as the model gave them (the engine validates them) and the usage they cost."""

    items: list[dict[str, Any]]
    usage: Usage = field(default_factory=Usage)


class BackendError(Exception):
    """Base class of backend failures; `usage` is what the failed call was billed (answers that could not
    be used still cost money), so the engine can record it."""

    def __init__(self, message: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.usage = usage if usage is not None else Usage()


class RetryableBackendError(BackendError):
    """Transient failure after the backend's own retries: the slots are refilled in a later round."""


class FatalBackendError(BackendError, BackendRefusedError):
    """Failure that retrying cannot fix (authentication, malformed request): the run stops."""


#: custom_id → (request key, slot ids) of the requests of one Message Batch (what a batch was asked for).
BatchSlots = dict[str, tuple[str, tuple[int, ...]]]

#: Backends that bill nothing (no price needed for `--budget`).
FREE_BACKENDS = frozenset({"local"})


class Backend(Protocol):
    """An async LLM client. Implementations: `AnthropicBackend`, `LocalBackend`."""

    name: str
    model: str
    items_per_request: int
    max_concurrency: int

    async def generate(self, request: GenerationRequest) -> GenerationResult: ...

    async def aclose(self) -> None: ...
