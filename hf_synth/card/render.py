"""Rendering ``README.md``: the Jinja environment, the templates folder, and the two public entry points.

Everything the card says comes from the report (plus parquet footers for exact per-file row counts and
sizes), so ``hf-synth card DIR`` can re-render it without regenerating data. The Jinja environment escapes
every ``{{ }}`` output that is not explicitly :class:`~hf_synth.card.escape.SafeMd`, and values of
environment variables whose name contains KEY/TOKEN/SECRET are scrubbed from the report and the card.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from hf_synth.card.charts import dimension_charts
from hf_synth.card.context import build_context
from hf_synth.card.escape import SafeMd, escape_cell, escape_inline, inline_code
from hf_synth.card.format import markdown_value, num, pct
from hf_synth.card.metadata import build_metadata
from hf_synth.card.readme import BEGIN, END, merge_readme
from hf_synth.card.report_keys import dimension_order
from hf_synth.errors import UsageError
from hf_synth.secrets import REDACTED, scrub, secret_values

TEMPLATE_NAME = "dataset_card.md.j2"


def templates_dir() -> Path:
    """Directory with the card templates: ``hf_synth/card/templates``, a symlink to the top-level ``cards/``
    in a checkout and a real folder in a wheel (see setup.cfg's package_data)."""
    folder = Path(__file__).resolve().parent / "templates"
    if not (folder / TEMPLATE_NAME).is_file():
        raise FileNotFoundError(f"card template {TEMPLATE_NAME} not found in {folder}")
    return folder


def _environment(template_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=markdown_value,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters: dict[str, Callable[..., Any]] = {
        "cell": escape_cell,
        "inline": escape_inline,
        "code": inline_code,
        "num": lambda v, d=3: SafeMd(num(v, d)),
        "pct": lambda v, d=1: SafeMd(pct(v, d)),
    }
    env.filters.update(filters)
    return env


def _render_template(context: Mapping[str, Any], template_dir: Path | None) -> str:
    if template_dir is None:
        return _environment(templates_dir()).get_template(TEMPLATE_NAME).render(**context)
    # A user's template folder: a missing or broken template is bad input, not a bug of ours.
    path = Path(template_dir) / TEMPLATE_NAME
    if not path.is_file():
        raise UsageError(f"{TEMPLATE_NAME} not found in the card template folder {template_dir}")
    try:
        return _environment(Path(template_dir)).get_template(TEMPLATE_NAME).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise UsageError(f"card template {path}, line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise UsageError(f"card template {path}: {exc}") from None


def render_body(context: Mapping[str, Any], template_dir: Path | None = None) -> str:
    """Render the generated block (markers included) from a :func:`build_context` view model.

    ``template_dir`` (default: the built-in templates) must hold ``dataset_card.md.j2``; a missing or broken
    template there raises `UsageError` naming the file.
    """
    body = _render_template(context, template_dir)
    # Collapse runs of blank lines left by optional sections, so output is stable and tidy.
    body = re.sub(r"\n{3,}", "\n\n", body).strip("\n")
    return f"{BEGIN}\n{body}\n{END}"


def compose_card(
    folder: Path,
    report: Mapping[str, Any],
    *,
    template_dir: Path | None = None,
    repo_id: str | None = None,
    image_root: Path | None = None,
) -> tuple[str, dict[str, str]]:
    """The text of ``folder/README.md`` for ``report`` and the charts it links, without writing the README.

    Charts are drawn under ``image_root`` (default ``folder``) as ``images/<dimension>.png``; returns (README
    text, {dimension: chart path relative to the folder}). Secrets of the environment are scrubbed from the
    report and from the text. See :func:`render_card` for ``repo_id`` and the merge with an existing README.
    """
    folder = Path(folder)
    secrets = secret_values()
    report = scrub(dict(report), secrets)
    recipe = report.get("recipe") or {}
    repo_id = repo_id or report.get("repo_id") or recipe.get("repo_id") or f"./{folder.name}"

    targets = ((report.get("plan") or {}).get("targets") or {}).get("marginals") or {}
    realised = (report.get("realised") or {}).get("marginals") or {}
    audited = (report.get("audit") or {}).get("per_dimension") or {}
    judged = {d: s.get("judged") or {} for d, s in audited.items()}
    charts = dimension_charts(image_root or folder, targets, realised, dimension_order(recipe), judged)

    metadata = build_metadata(report, folder)
    block = render_body(build_context(report, folder, repo_id, charts), template_dir)

    readme = folder / "README.md"
    existing = readme.read_text(encoding="utf-8") if readme.exists() else None
    text = merge_readme(existing, metadata, block)
    for s in secrets:
        # Defensive second pass: also covers secrets pasted into the user's own text.
        text = text.replace(s, REDACTED)
    leaked = [s for s in secrets if s in text]
    if leaked:  # pragma: no cover - replace() above makes this unreachable; kept as the contract's assert
        raise RuntimeError("refusing to write a card containing an environment secret")
    return text, charts


def render_card(
    folder: Path,
    report: dict,
    *,
    template_dir: Path | None = None,
    repo_id: str | None = None,
) -> Path:
    """Write ``folder/README.md`` and ``folder/images/*.png`` from ``report`` (the content of report.json).

    ``repo_id`` is what the card's loading snippets pass to ``load_dataset``; it defaults to
    ``report["repo_id"]``, ``report["recipe"]["repo_id"]`` and then ``./<folder name>``. An existing README
    is merged: user text outside the generated block and unknown metadata keys are kept. Returns the path.
    """
    folder = Path(folder)
    text, _ = compose_card(folder, report, template_dir=template_dir, repo_id=repo_id)
    readme = folder / "README.md"
    readme.write_text(text, encoding="utf-8")
    return readme


def read_report(folder: Path) -> dict[str, Any]:
    """``folder/report.json`` as a dict; raises `UsageError` when it is missing or not a JSON object."""
    report_path = Path(folder) / "report.json"
    if not report_path.is_file():
        raise UsageError(f"{report_path} not found (run `hf-synth generate --out {folder}` first)")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{report_path} is not valid JSON: {exc}") from None
    if not isinstance(report, dict):
        raise UsageError(f"{report_path} is not a JSON object")
    return report


def render_card_from_folder(
    folder: Path, *, template_dir: Path | None = None, repo_id: str | None = None
) -> Path:
    """Re-render ``folder``'s card from its ``report.json``; raises `UsageError` when there is none."""
    return render_card(folder, read_report(folder), template_dir=template_dir, repo_id=repo_id)
