"""`hf-synth release` (what `make push` runs): generate, validate, push and tag each untagged recipe."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from hf_synth.errors import HubError
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


def run_release(
    folder: Path, out: Path, *, dry_run: bool = False, org: str | None = None, limit: int | None = None
) -> int:
    """Release each untagged recipe: generate (or resume), validate (a failure stops), push, tag.

    Returns a process exit code: 0 when every release went through (or there was nothing to do).
    """
    from hf_synth.generation.engine import IncompleteRunError
    from hf_synth.hub.push import PushError, push_folder
    from hf_synth.pipeline import RunOptions, generate

    try:
        items = plan_releases(folder, org)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for item in items:
        print(f"{item.recipe_path.name}: {item.repo_id} {item.tag or '-'}: {item.action}")
    if dry_run:
        return 0
    status = 0
    for item in items:
        if item.action != "release":
            continue
        target = out / item.recipe.name
        # A release uses the recipe's own backend: no silent fallback to the small local model.
        options = RunOptions(backend=item.recipe.backend.name, limit=limit)
        try:
            generate(item.recipe, target, options)
        except IncompleteRunError as exc:
            print(f"{item.recipe.name}: not released: {exc}", file=sys.stderr)
            status = 1
            continue
        report = json.loads((target / "report.json").read_text(encoding="utf-8"))
        if not report["validation"]["ok"]:
            print(
                f"{item.recipe.name}: not released: validation failed (hf-synth validate {target})",
                file=sys.stderr,
            )
            status = 1
            continue
        try:
            result = push_folder(target, item.repo_id, tag=item.tag, message=f"Release {item.tag}")
        except PushError as exc:
            print(f"{item.recipe.name}: not released: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{item.recipe.name}: released {item.repo_id}@{item.tag} (commit {result.commit_oid})")
    return status


def _cmd(args: argparse.Namespace) -> int:
    return run_release(
        Path(args.recipes), Path(args.out), dry_run=args.dry_run, org=args.org, limit=args.limit
    )


def add_subparser(sub: argparse._SubParsersAction) -> None:
    """Register `hf-synth release`."""
    p = sub.add_parser(
        "release", help="generate, validate, push and tag every recipe version not yet released"
    )
    p.add_argument("recipes", help="folder of recipes (dataset_scripts/)")
    p.add_argument("--out", default="out/release", help="where the release folders are generated")
    p.add_argument("--org", help="Hub namespace for recipes without repo_id")
    p.add_argument("--dry-run", action="store_true", help="only show what would be released")
    p.add_argument("--limit", type=int, help="scale each plan down (rehearsals)")
    p.set_defaults(func=_cmd)
