"""`hf-synth release` (what `make push` runs): generate, validate, push and tag each untagged recipe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hf_synth.errors import HfSynthError, HubError
from hf_synth.recipe import Recipe, load_recipe


class ReleaseError(HubError):
    """The release cannot be planned (the Hub cannot be read)."""


@dataclass
class ReleaseItem:
    """One recipe's release decision."""

    recipe_path: Path
    recipe: Recipe
    repo_id: str
    tag: str
    action: str  # "release" | "skip: ..." (already tagged, no version, ...)


def release_tag(recipe: Recipe) -> str:
    """The tag a recipe version is released under: v<version>."""
    version = recipe.version or ""
    return version if version.startswith("v") else f"v{version}"


def plan_releases(folder: Path, org: str | None = None) -> list[ReleaseItem]:
    """Read every recipe in `folder` and decide, by the Hub's tags, which versions still need a release."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi()
    items = []
    for path in sorted(folder.glob("*.y*ml")):
        recipe = load_recipe(path)
        repo_id = recipe.repo_id or (f"{org}/{recipe.name}" if org else recipe.name)
        if not recipe.version:
            items.append(ReleaseItem(path, recipe, repo_id, "", "skip: the recipe has no version"))
            continue
        tag = release_tag(recipe)
        try:
            tags = {t.name for t in api.list_repo_refs(repo_id, repo_type="dataset").tags}
        except RepositoryNotFoundError:
            tags = set()
        except Exception as exc:  # unreachable Hub, bad token: no release decision can be made
            raise ReleaseError(
                f"cannot read the tags of {repo_id} on {api.endpoint}: {type(exc).__name__}: {exc}. "
                "Check the network, HF_ENDPOINT and HF_TOKEN."
            ) from None
        action = f"skip: {tag} is already released" if tag in tags else "release"
        items.append(ReleaseItem(path, recipe, repo_id, tag, action))
    return items


@dataclass
class ReleaseOutcome:
    """What happened to one recipe: `status` is released, skipped or failed; `error` is the exception."""

    item: ReleaseItem
    status: str
    commit_oid: str | None = None
    error: HfSynthError | None = None
    tag: str | None = None  # the tag pushed (a rehearsal with --limit gets a "-rehearsal.limit-N" tag)


def release_all(
    items: list[ReleaseItem],
    out: Path,
    *,
    limit: int | None = None,
    on_outcome: Callable[[ReleaseOutcome], None] | None = None,
) -> list[ReleaseOutcome]:
    """Release each item marked "release": generate (or resume), validate, push, tag.

    A recipe that fails (incomplete run, budget, validation, backend refusal, Hub error) is reported and the
    others still go; `on_outcome` is called after each recipe (the CLI prints from it).
    """
    from hf_synth.card.publish import release_card
    from hf_synth.errors import ValidationFailedError
    from hf_synth.generation.options import RunOptions
    from hf_synth.hub.push import push_folder
    from hf_synth.pipeline import generate

    outcomes = []
    for item in items:
        if item.action != "release":
            outcome = ReleaseOutcome(item, "skipped")
        else:
            target = out / item.recipe.name
            # A scaled-down rehearsal must not take the version's tag: tags cannot be recreated, and the
            # real release would then be skipped as "already released".
            tag = item.tag if limit is None else f"{item.tag}-rehearsal.limit-{limit}"
            try:
                # A release uses the recipe's own backend: no silent fallback to the small local model.
                dd = generate(item.recipe, target, RunOptions(backend=item.recipe.backend.name, limit=limit))
                if not dd.ok:
                    raise ValidationFailedError(f"validation failed (hf-synth validate {target})")
                message = f"Release {item.tag}"
                if limit is not None:
                    message = f"Rehearsal of {item.tag} (--limit {limit}), not a release"
                result = push_folder(target, item.repo_id, tag=tag, message=message, render_card=release_card)
                outcome = ReleaseOutcome(item, "released", commit_oid=result.commit_oid, tag=tag)
            except HfSynthError as exc:
                outcome = ReleaseOutcome(item, "failed", error=exc)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes
