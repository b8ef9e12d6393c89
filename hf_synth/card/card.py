"""The dataset card: ``README.md`` (YAML metadata + a generated Markdown block) built from ``report.json``.

Everything the card says comes from the report (plus parquet footers for exact per-file row counts and
sizes), so ``hf-synth card DIR`` can re-render it without regenerating data.

Safety rules, because recipe text and LLM output end up in the card:
- YAML is built as plain Python data (via ``DatasetCardData``) and written by a ``yaml.SafeDumper``,
  never by string templating; multi-line values are double-quoted so no line can end the front matter.
- Recipe values and generated text reach the Markdown only through the escaping helpers below; the Jinja
  environment escapes every ``{{ }}`` output that is not explicitly marked :class:`SafeMd`.
- Values of environment variables whose name contains KEY/TOKEN/SECRET are scrubbed from the card.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

from hf_synth import __version__
from hf_synth.card.charts import dimension_charts
from hf_synth.edge_cases import kind_description
from hf_synth.errors import UsageError

BEGIN = "<!-- hf-synth:begin -->"
END = "<!-- hf-synth:end -->"
TEMPLATE_NAME = "dataset_card.md.j2"
REDACTED = "[REDACTED]"

#: Metadata keys the card owns: on re-render ours replace the user's; every other key is kept as it is.
OWNED_KEYS = (
    "license",
    "language",
    "pretty_name",
    "task_categories",
    "size_categories",
    "tags",
    "configs",
    "dataset_info",
    "hf_synth",
)

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET", re.IGNORECASE)
# Short values (e.g. TOKENIZERS_PARALLELISM=false) are not secrets and would mangle ordinary words.
_MIN_SECRET_LEN = 8
_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_SIZE_BUCKETS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)
CONFIG_ORDER = ("default", "clean", "edge_cases")
# Pre-written Markdown (table-cell safe: the only pipe is escaped) for the columns every dataset has.
BUILTIN_COLUMNS = {
    "edge_case": "Edge-case kind of the row (`none` for ordinary rows).",
    "is_edge_case": "True when the row is an edge case.",
    "edge_case_of": "Slot id of the ordinary row this edge case is paired with (null when unpaired).",
    "stratum": "Stratum id: the stratum dimensions' values joined with `\\|`.",
    "slot_id": "Stable id of the planned slot the row fills.",
}


# --------------------------------------------------------------------------------------------- escaping


class SafeMd(str):
    """A string that is already valid, escaped Markdown; the template prints it unchanged."""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Zero-width, bidi and other format characters (Unicode Cf) plus C1 controls and line/paragraph separators:
# invisible or reordering in a rendered card (Trojan-source style), so they are shown as ⟨U+XXXX⟩.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u206f\ufeff\ufff9-\ufffb]"
)
# Backslash-escape the characters that start inline Markdown constructs: code spans, emphasis, links/images,
# table cells, strikethrough. HTML specials are turned into entities separately.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_ORDERED_ITEM = re.compile(r"^(\d{1,9})([.)])(\s|$)")
_BULLET_OR_RULE = re.compile(r"^(?:[-+=]+\s*$|[-+]\s)")


def truncate(text: str, max_len: int | None) -> str:
    """Cut ``text`` to at most ``max_len`` characters, ending with an ellipsis when it was cut."""
    if max_len is None or len(text) <= max_len:
        return text
    return text[: max(1, max_len - 1)].rstrip() + "…"


def _clean(text: Any) -> str:
    s = "" if text is None else str(text)
    return _CONTROL.sub("", s.replace("\r\n", "\n").replace("\r", "\n"))


def _visible(text: Any) -> str:
    """Like ``_clean`` but shows invisible characters as ⟨U+XXXX⟩ instead of dropping or keeping them."""
    s = "" if text is None else str(text)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    return _INVISIBLE.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", s)


def _escape_line(line: str) -> str:
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = _MD_SPECIAL.sub(r"\\\1", line)
    # Leading whitespace would turn the line into an indented code block (or a lazy continuation).
    line = line.lstrip(" \t")
    if line.startswith("#"):
        return "\\" + line
    if _BULLET_OR_RULE.match(line):
        return "\\" + line
    m = _ORDERED_ITEM.match(line)
    if m:
        return m.group(1) + "\\" + line[len(m.group(1)) :]
    return line


def escape_inline(text: Any, max_len: int | None = None) -> SafeMd:
    """Escape ``text`` for use inside a Markdown paragraph, list item or heading, on one line.

    Whitespace runs collapse to one space; a single leading/trailing space is kept so template fragments
    such as ``" × "`` keep their spacing.
    """
    s = re.sub(r"\s+", " ", _visible(text))
    core = s.strip()
    if not core:
        return SafeMd(s)
    lead = " " if s.startswith(" ") else ""
    trail = " " if s.endswith(" ") else ""
    return SafeMd(lead + _escape_line(truncate(core, max_len)) + trail)


def escape_cell(text: Any, max_len: int | None = 160) -> SafeMd:
    """Escape ``text`` for one Markdown table cell: no raw ``|``, HTML or newlines survive."""
    if text is None:
        return SafeMd("—")
    lines = [" ".join(line.split()) for line in truncate(_visible(text).strip(), max_len).split("\n")]
    # <br> is our own markup, the only HTML the card emits from data; it keeps line structure visible.
    return SafeMd("<br>".join(_escape_line(line) for line in lines if line))


def escape_block(text: Any, max_len: int | None = None, quote: bool = False) -> SafeMd:
    """Escape multi-line ``text`` as Markdown with its line breaks kept; ``quote`` makes it a blockquote."""
    lines = truncate(_visible(text).strip(), max_len).split("\n")
    out = []
    for line in lines:
        esc = _escape_line(line)
        # A trailing backslash is a CommonMark hard line break: it keeps the text's own line structure.
        out.append(esc + "\\" if esc else "")
    if out and out[-1].endswith("\\"):
        out[-1] = out[-1][:-1]
    if quote:
        return SafeMd("\n".join(("> " + line) if line else ">" for line in out))
    return SafeMd("\n".join(out))


def fenced(text: Any, lang: str = "") -> SafeMd:
    """Wrap ``text`` verbatim in a fenced code block whose fence is longer than any backtick run in it."""
    s = _clean(text)
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * max(3, longest + 1)
    lang = re.sub(r"[^A-Za-z0-9_+-]", "", lang)
    return SafeMd(f"{fence}{lang}\n{s.rstrip(chr(10))}\n{fence}")


def inline_code(text: Any) -> SafeMd:
    """Render ``text`` as an inline code span (do not use inside table cells: ``|`` still splits them)."""
    s = " ".join(_clean(text).split())
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return SafeMd(f"{tick}{pad}{s}{pad}{tick}")


def _describe_blank(value: Any) -> str | None:
    """A visible description for values that would render as nothing (None, "", whitespace only)."""
    if value is None:
        return "(null)"
    if isinstance(value, str) and not value.strip():
        return "(empty string)" if value == "" else f"(whitespace only: {len(value)} characters)"
    return None


def _quote_value(value: Any, max_len: int = 600) -> SafeMd:
    """An example value as an escaped blockquote; blank values are described instead of vanishing."""
    blank = _describe_blank(value)
    if blank is not None:
        return SafeMd("> " + blank)
    return escape_block(value, max_len, quote=True)


def _quote_inline(value: Any, max_len: int = 120) -> SafeMd:
    blank = _describe_blank(value)
    if blank is not None:
        return SafeMd(blank)
    if isinstance(value, (bool, int, float)):
        return SafeMd(_finalize(value))
    return escape_inline(value, max_len)


def _cell_value(value: Any, max_len: int = 200) -> SafeMd:
    """A scalar for a table cell: null as a dash, booleans as YAML spells them, text escaped."""
    if value is None:
        return SafeMd("—")
    if isinstance(value, bool):
        return SafeMd("true" if value else "false")
    if isinstance(value, (int, float)):
        return SafeMd(str(value))
    return escape_cell(value, max_len)


def _finalize(value: Any) -> str:
    """Jinja ``finalize``: escape every printed value unless it is SafeMd (already escaped by us)."""
    if isinstance(value, SafeMd):
        return value
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _num(value)
    return escape_inline(value)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return escape_inline(value)
    if math.isnan(f):
        return "n/a"
    return f"{f:,.{digits}f}"


def _pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    try:
        return f"{100 * float(value):.{digits}f}%"
    except (TypeError, ValueError):
        return escape_inline(value)


# ------------------------------------------------------------------------------------------------ secrets


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose name contains KEY, TOKEN or SECRET (long enough to matter)."""
    env = os.environ if environ is None else environ
    vals = {v for k, v in env.items() if _SECRET_NAME.search(k) and v and len(v.strip()) >= _MIN_SECRET_LEN}
    # Longest first, so a secret that contains another is removed whole.
    return sorted(vals, key=len, reverse=True)


def _scrub(obj: Any, secrets: list[str]) -> Any:
    if not secrets:
        return obj
    if isinstance(obj, str):
        for s in secrets:
            obj = obj.replace(s, REDACTED)
        return obj
    if isinstance(obj, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_scrub(v, secrets) for v in obj]
    return obj


# ----------------------------------------------------------------------------------------------- metadata


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` rows (``n<1K`` … ``n>1T``)."""
    for bound, label in _SIZE_BUCKETS:
        if n < bound:
            return label
    return "n>1T"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _total_rows(report: Mapping[str, Any]) -> int:
    splits = (report.get("realised") or {}).get("splits") or {}
    if splits:
        return int(sum(splits.values()))
    gen = report.get("generation") or {}
    if gen.get("rows") is not None:
        return int(gen["rows"])
    return int((report.get("plan") or {}).get("total") or 0)


def _rel(folder: Path, p: str) -> str:
    path = Path(p)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(folder.resolve())
        except ValueError:
            return p
    return path.as_posix()


def _configs(report: Mapping[str, Any], folder: Path) -> dict[str, dict[str, list[str]]]:
    """``report["files"]`` in config order, paths relative to the folder; configs without files dropped."""
    files = report.get("files") or {}
    names = [c for c in CONFIG_ORDER if c in files] + [c for c in files if c not in CONFIG_ORDER]
    out: dict[str, dict[str, list[str]]] = {}
    for name in names:
        splits = {s: [_rel(folder, p) for p in _as_list(paths)] for s, paths in (files[name] or {}).items()}
        splits = {s: paths for s, paths in splits.items() if paths}
        if splits:
            out[name] = splits
    return out


def _parquet_stats(folder: Path, paths: list[str]) -> tuple[int, int] | None:
    """(rows, bytes) over ``paths`` from parquet footers; None when a file is missing or unreadable."""
    import pyarrow.parquet as pq

    rows = size = 0
    for p in paths:
        f = folder / p
        try:
            rows += pq.ParquetFile(f).metadata.num_rows
            size += f.stat().st_size
        except Exception:  # any unreadable or missing file means "unknown", never a crash
            return None
    return rows, size


def _features_yaml(features: Mapping[str, Any]) -> list[dict[str, Any]]:
    import datasets

    feats = datasets.Features.from_dict(dict(features))
    # DatasetInfo writes ClassLabel as {class_label: {names: {'0': a, ...}}}, the form the Hub expects.
    return datasets.DatasetInfo(features=feats)._to_yaml_dict()["features"]


def _plain(obj: Any) -> Any:
    """Convert to YAML-safe builtins (tuples, numpy scalars, paths) so ``safe_dump`` never fails."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item"):  # numpy scalar
        return _plain(obj.item())
    return str(obj)


def build_metadata(report: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """The YAML metadata we own, as a plain dict (built through ``huggingface_hub.DatasetCardData``)."""
    from huggingface_hub import DatasetCardData

    recipe = report.get("recipe") or {}
    configs = _configs(report, folder)
    edge_rows = sum(((report.get("realised") or {}).get("edge_cases") or {}).values())
    has_edges = edge_rows > 0 or "edge_cases" in configs
    if not has_edges:
        configs.pop("edge_cases", None)

    tags = ["synthetic", "stratified", "hf-synth"] + (["edge-cases"] if has_edges else [])
    tags += [t for t in _as_list(recipe.get("tags")) if t not in tags]

    task_categories = _as_list(recipe.get("task_categories"))
    if not task_categories:
        task_categories = ["text-classification"] if recipe.get("dimensions") else ["text-generation"]

    config_yaml = []
    for name, splits in configs.items():
        entry: dict[str, Any] = {"config_name": name}
        if name == "default":
            entry["default"] = True
        # Explicit file lists, no globs: a stale file left in data/ must never be served.
        entry["data_files"] = [{"split": s, "path": list(paths)} for s, paths in splits.items()]
        config_yaml.append(entry)

    dataset_info = []
    features = _features_yaml(report["features"]) if report.get("features") else None
    for name, splits in configs.items():
        info: dict[str, Any] = {"config_name": name}
        if features is not None:
            info["features"] = features
        split_rows = []
        total_bytes = 0
        for split, paths in splits.items():
            stats = _parquet_stats(folder, paths)
            if stats is None:
                split_rows = []
                break
            split_rows.append({"name": split, "num_bytes": stats[1], "num_examples": stats[0]})
            total_bytes += stats[1]
        # Without exact counts we write no splits: datasets verifies num_examples and would refuse to load.
        if split_rows:
            info["splits"] = split_rows
            info["download_size"] = total_bytes
            info["dataset_size"] = total_bytes
        dataset_info.append(info)

    hf_synth_meta = {
        "version": report.get("hf_synth_version") or __version__,
        "recipe": recipe.get("name"),
        "recipe_version": recipe.get("version"),
        "description": recipe.get("description"),
        "fingerprint": recipe.get("fingerprint"),
        "seed": recipe.get("seed"),
        "created_at": report.get("created_at"),
        "backend": (report.get("generation") or {}).get("backend"),
        "model": (report.get("generation") or {}).get("model"),
    }
    card_data = DatasetCardData(
        license=recipe.get("license") or "other",
        language=_as_list(recipe.get("language")) or None,
        pretty_name=str(recipe.get("pretty_name") or recipe.get("name") or folder.name),
        task_categories=task_categories,
        size_categories=[size_category(_total_rows(report))],
        tags=tags,
        configs=config_yaml or None,
        dataset_info=(dataset_info[0] if len(dataset_info) == 1 else dataset_info) or None,
        hf_synth={k: v for k, v in hf_synth_meta.items() if v is not None},
    )
    data = _plain(card_data.to_dict())
    data.pop("train-eval-index", None)
    return data


class _CardDumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings double-quoted, so no value line can look like ``---``."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # A plain or single-quoted multi-line scalar puts each line on its own text line; a line reading "---"
    # would end the README front matter early. Double quotes keep the whole value on one line as "\n".
    style = '"' if ("\n" in value or "\r" in value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_CardDumper.add_representer(str, _represent_str)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """Dump metadata safely (SafeDumper: no Python tags), unicode kept, no line folding."""
    text = yaml.dump(dict(data), Dumper=_CardDumper, sort_keys=False, allow_unicode=True, width=1_000_000)
    # The front matter must parse back to exactly what we meant, with the loader consumers use.
    if yaml.safe_load(text) != dict(data):
        raise ValueError("card metadata does not round-trip through YAML")
    return text


# -------------------------------------------------------------------------------------------- body context


def _dimension_order(recipe: Mapping[str, Any]) -> dict[str, list[str]]:
    dims = recipe.get("dimensions") or {}
    out: dict[str, list[str]] = {}
    if isinstance(dims, Mapping):
        for name, spec in dims.items():
            vals = spec.get("values") if isinstance(spec, Mapping) else spec
            out[str(name)] = [_value_str(v) for v in _as_iter(vals)]
    return out


def _as_iter(v: Any) -> Iterable[Any]:
    return v if isinstance(v, (list, tuple)) else ([] if v is None else [v])


def _value_str(v: Any) -> str:
    # DESIGN.md "Values": every dimension value is a string after the recipe, YAML booleans/null spelled out.
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    return str(v)


def _edge_kinds(recipe: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Edge kinds as [{name, instruction}] from any of the shapes a recipe may use."""
    ec = recipe.get("edge_cases")
    if isinstance(ec, Mapping) and "kinds" in ec:
        ec = ec["kinds"]
    kinds: list[dict[str, Any]] = []
    if isinstance(ec, Mapping):
        for name, spec in ec.items():
            spec = spec if isinstance(spec, Mapping) else {"instruction": spec}
            kinds.append({"name": str(name), **spec})
    elif isinstance(ec, list):
        for spec in ec:
            if isinstance(spec, Mapping):
                kinds.append({**spec, "name": str(spec.get("name"))})
            else:
                kinds.append({"name": str(spec)})
    return kinds


def _feature_type(spec: Mapping[str, Any]) -> str:
    kind = spec.get("_type")
    if kind == "ClassLabel":
        names = [str(n) for n in spec.get("names") or []]
        shown = ", ".join(names[:8]) + (f", … ({len(names)} in all)" if len(names) > 8 else "")
        return f"class label: {shown}"
    if kind == "Value":
        return str(spec.get("dtype"))
    if kind in ("Sequence", "List", "LargeList"):
        inner = spec.get("feature") or {}
        return f"list of {_feature_type(inner) if isinstance(inner, Mapping) else inner}"
    return str(kind or "?")


def _first(d: Mapping[str, Any] | None, *keys: str) -> Any:
    """The first non-None value of ``keys`` in ``d`` (report producers have used several spellings)."""
    for key in keys:
        if d and d.get(key) is not None:
            return d[key]
    return None


def _reading_coverage(cov: Mapping[str, Any]) -> list[dict[str, Any]]:
    """(figure, value, plain-English reading) rows for the coverage section."""
    knn = cov.get("knn") or {}
    clusters = cov.get("clusters") or {}
    rows: list[dict[str, Any]] = []

    def add(name: str, value: Any, text: str) -> None:
        rows.append({"name": name, "value": SafeMd(value), "reading": text})

    c = cov.get("coverage")
    if c is not None:
        add(
            "coverage",
            _pct(c),
            f"About {_pct(c, 0)} of the reference data lies in regions the synthetic data also reaches.",
        )
    p = knn.get("precision")
    if p is not None:
        add(
            "k-NN precision",
            _pct(p),
            f"{_pct(p, 0)} of synthetic texts look like they could come from the reference data (realism).",
        )
    r = knn.get("recall")
    if r is not None:
        add(
            "k-NN recall",
            _pct(r),
            f"{_pct(r, 0)} of reference texts have something similar in the synthetic data (breadth).",
        )
    d = knn.get("density")
    if d is not None:
        dv = float(d)
        where = "more crowded than" if dv > 1.1 else "thinner than" if dv < 0.9 else "about as dense as"
        add("k-NN density", _num(d, 2), f"Synthetic texts sit {where} the reference data around them.")
    kc = knn.get("coverage")
    exp = _first(knn, "expected_coverage_same_distribution", "expected_coverage")
    if kc is not None:
        tail = f"; two samples of one distribution would reach about {_pct(exp, 0)}" if exp else ""
        add(
            "k-NN coverage",
            _pct(kc),
            f"{_pct(kc, 0)} of reference texts have a synthetic text among their nearest neighbours{tail}.",
        )
    cc = clusters.get("coverage")
    if cc is not None:
        regions = ""
        if clusters.get("filled_regions") is not None and clusters.get("n_clusters"):
            regions = f" ({clusters['filled_regions']} of {clusters['n_clusters']} regions filled)"
        add(
            "region coverage",
            _pct(cc),
            f"Regions with {_pct(cc, 0)} of the reference data get their share of synthetic texts{regions}.",
        )
    tv = clusters.get("total_variation")
    if tv is not None:
        add(
            "total variation",
            _num(tv, 3),
            f"{_pct(tv, 0)} of the synthetic data would have to move between regions to match the reference.",
        )
    ks = cov.get("legacy_ks_score")
    ks_value = ks.get("value") if isinstance(ks, Mapping) else ks
    if ks_value is not None:
        add(
            "legacy KS score",
            _num(ks_value, 3),
            "Older score comparing only cluster sizes (1 = same sizes); not a coverage measure.",
        )
    return rows


def _reading_diversity(div: Mapping[str, Any], n_synth: Any) -> list[dict[str, Any]]:
    """(figure, synthetic, reference, reading) rows; accepts the flat and the per-side report shapes."""
    if "synthetic" in div:
        syn, ref = div.get("synthetic") or {}, div.get("reference") or {}
        leak = div.get("leakage") or {}
        n_synth = div.get("n_rows_compared") or n_synth
    else:
        syn, ref, leak = div, {}, {"rate": div.get("leakage_rate")}
    figures = (
        (
            "vendi score",
            ("vendi", "vendi_score"),
            "num",
            lambda v: (
                f"The texts behave like about {_num(v, 0)} completely different texts"
                + (f" out of {_num(n_synth)}." if n_synth else ".")
            ),
        ),
        ("distinct-1", ("distinct_1",), "pct", lambda v: f"{_pct(v, 0)} of all words (unigrams) are unique."),
        (
            "distinct-2",
            ("distinct_2",),
            "pct",
            lambda v: f"{_pct(v, 0)} of all word pairs (bigrams) are unique.",
        ),
        (
            "compression ratio",
            ("compression_ratio",),
            "num",
            lambda v: "gzip ratio (raw ÷ compressed): the higher, the more repetitive.",
        ),
        (
            "exact duplicates",
            ("exact_duplicate_rate",),
            "pct",
            lambda v: f"{_pct(v, 1)} of texts repeat another text exactly.",
        ),
        (
            "near-duplicates",
            ("near_duplicate_rate",),
            "pct",
            lambda v: f"{_pct(v, 1)} of texts have a near-duplicate in the set.",
        ),
    )
    rows: list[dict[str, Any]] = []
    for name, keys, kind, reading in figures:
        v = _first(syn, *keys)
        if v is None:
            continue
        rv = _first(ref, *keys)
        fmt = _pct if kind == "pct" else (lambda x: _num(x, 2))
        rows.append(
            {
                "name": name,
                "synthetic": SafeMd(fmt(v)),
                "reference": SafeMd(fmt(rv)) if rv is not None else None,
                "reading": reading(v),
            }
        )
    rate = leak.get("rate") if isinstance(leak, Mapping) else None
    if rate is not None:
        rows.append(
            {
                "name": "leakage",
                "synthetic": SafeMd(_pct(rate)),
                "reference": None,
                "reading": f"{_pct(rate, 1)} of synthetic texts nearly copy a reference text.",
            }
        )
    return rows


def _scalar_items(d: Any) -> list[tuple[str, Any]]:
    if not isinstance(d, Mapping):
        return []
    return [(str(k), v) for k, v in d.items() if v is None or isinstance(v, (str, int, float, bool))]


def _bibtex_escape(s: str) -> str:
    s = " ".join(_clean(s).split())
    return re.sub(r"([\\{}%&#$_^~])", r"\\\1", s)


def _citation(report: Mapping[str, Any], repo_id: str, pretty: str) -> tuple[str, str]:
    recipe = report.get("recipe") or {}
    year = str(report.get("created_at") or "")[:4]
    year = year if year.isdigit() else "n.d."
    key = re.sub(r"\W+", "_", str(recipe.get("name") or pretty), flags=re.ASCII).strip("_").lower()
    key = key or "dataset"
    # Only a real Hub id gets a URL (local paths would be meaningless to readers); Hub ids need no escaping.
    hub = re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", repo_id) is not None
    lines = [
        f"@misc{{{key}_{year.replace('.', '')},",
        f"  title        = {{{_bibtex_escape(pretty)}}},",
        f"  year         = {{{year}}},",
    ]
    if recipe.get("version"):
        lines.append(f"  version      = {{{_bibtex_escape(str(recipe['version']))}}},")
    if hub:
        lines.append(f"  howpublished = {{\\url{{https://huggingface.co/datasets/{repo_id}}}}},")
    version = report.get("hf_synth_version") or __version__
    note = f"Synthetic dataset generated with hf-synth {_bibtex_escape(str(version))}"
    lines.append(f"  note         = {{{note}}}")
    lines.append("}")
    tool = "\n".join(
        [
            "@software{hf_synth,",
            "  title   = {hf-synth: stratified synthetic text datasets for the Hugging Face ecosystem},",
            "  author  = {{hf-synth contributors}},",
            f"  version = {{{_bibtex_escape(str(version))}}},",
            f"  year    = {{{year}}}",
            "}",
        ]
    )
    return "\n".join(lines), tool


def build_context(
    report: Mapping[str, Any], folder: Path, repo_id: str, charts: Mapping[str, str]
) -> dict[str, Any]:
    """The template's view model: numbers formatted, user/LLM text escaped or wrapped as data."""
    recipe = report.get("recipe") or {}
    plan = report.get("plan") or {}
    targets = plan.get("targets") or {}
    realised = report.get("realised") or {}
    gen = report.get("generation") or {}
    features = report.get("features") or {}
    dims_order = _dimension_order(recipe)
    strata_by = _as_list(recipe.get("strata_by")) or list(dims_order)
    configs = _configs(report, folder)
    edge_real = realised.get("edge_cases") or {}
    if sum(edge_real.values()) == 0 and "edge_cases" not in configs:
        configs.pop("edge_cases", None)
    pretty = str(recipe.get("pretty_name") or recipe.get("name") or folder.name)
    text_field = recipe.get("text_field")
    total = _total_rows(report)

    # Fields
    fields_spec = recipe.get("fields") or {}
    field_rows = []
    for name, spec in features.items():
        if name in dims_order:
            role = "Stratum dimension" if name in strata_by else "Dimension (not a stratum)"
            desc_md = SafeMd(f"{role} of the recipe.")
        elif name in BUILTIN_COLUMNS:
            desc_md = SafeMd(BUILTIN_COLUMNS[name])
        else:
            fs = fields_spec.get(name) if isinstance(fields_spec, Mapping) else None
            desc = fs.get("description") if isinstance(fs, Mapping) else None
            desc_md = escape_cell(desc or "Recipe field.")
            if name == text_field:
                desc_md = SafeMd(desc_md + " (text field)")
        field_rows.append(
            {"name": escape_cell(name, None), "type": escape_cell(_feature_type(spec), 200), "desc": desc_md}
        )

    # Strata
    t_strata = targets.get("strata") or {}
    r_strata = realised.get("strata") or {}
    strata_rows = []
    for sid in list(t_strata) + [s for s in r_strata if s not in t_strata]:
        t, r = t_strata.get(sid, 0), r_strata.get(sid, 0)
        strata_rows.append({"id": escape_cell(sid, None), "target": t, "realised": r, "diff": f"{r - t:+d}"})

    charts_ctx = [
        {"dimension": escape_inline(d), "alt": escape_inline(f"{d}: target vs realised"), "path": SafeMd(p)}
        for d, p in charts.items()
    ]

    # Splits
    t_splits = targets.get("splits") or {}
    r_splits = realised.get("splits") or {}
    split_rows = []
    for s in list(t_splits) + [x for x in r_splits if x not in t_splits]:
        clean = _parquet_stats(folder, configs["clean"].get(s, [])) if "clean" in configs else None
        edge = _parquet_stats(folder, configs["edge_cases"].get(s, [])) if "edge_cases" in configs else None
        split_rows.append(
            {
                "name": escape_cell(s, None),
                "target": t_splits.get(s, 0),
                "realised": r_splits.get(s, 0),
                "clean": clean[0] if clean else None,
                "edge": edge[0] if edge else (0 if "edge_cases" not in configs else None),
            }
        )

    # Edge cases
    examples = report.get("examples") or {}
    t_edges = targets.get("edge_cases") or {}
    kinds = _edge_kinds(recipe)
    kind_names = [k["name"] for k in kinds]
    kind_names += [k for k in list(t_edges) + list(edge_real) + list(examples) if k not in kind_names]
    instr = {
        k["name"]: k.get("instruction") or k.get("description") or kind_description(k["name"])
        for k in kinds
    }
    edge_rows = []
    for k in kind_names:
        ex = examples.get(k)
        ex_text = ex_labels = ex_other = None
        if isinstance(ex, Mapping):
            key = text_field if text_field in ex else next((f for f in fields_spec if f in ex), None)
            if key is not None:
                ex_text = _quote_value(ex.get(key))
            labels = [f"{d} = {ex.get(d)}" for d in dims_order if d in ex]
            ex_labels = escape_inline("; ".join(labels), 300) if labels else None
            # The kind may be about another field (min_value on a number, null_optional, ...): show them too.
            other = [f for f in fields_spec if f in ex and f != key]
            ex_other = [{"name": escape_inline(f, 60), "value": _quote_inline(ex.get(f))} for f in other]
        elif ex is not None:
            ex_text = _quote_value(ex)
        edge_rows.append(
            {
                "name": escape_inline(k),
                "name_cell": escape_cell(k, None),
                "instruction": escape_cell(instr.get(k) or kind_description(k) or "", 200),
                "target": t_edges.get(k, 0),
                "realised": edge_real.get(k, 0),
                "example": ex_text,
                "labels": ex_labels,
                "other": ex_other or [],
            }
        )

    # Coverage
    cov = report.get("coverage")
    cov_ctx = None
    if cov:
        sizes = cov.get("sizes") or {}
        uncovered = []
        for i, region in enumerate(cov.get("uncovered") or [], 1):
            examples = list(region.get("examples") or [])
            uncovered.append(
                {
                    "n": i,
                    "share": _pct(region.get("share")),
                    "synthetic_share": _pct(region.get("synthetic_share")),
                    "examples": [escape_block(x, 300, quote=True) for x in examples[:3]],
                }
            )
        cov_ctx = {
            "rows": _reading_coverage(cov),
            "diversity": _reading_diversity(cov.get("diversity") or {}, sizes.get("synthetic")),
            "definition": escape_inline(cov["coverage_definition"], 400)
            if cov.get("coverage_definition")
            else None,
            "knn_missing": not cov.get("knn"),
            "uncovered": uncovered,
            "synthetic": sizes.get("synthetic"),
            "reference": sizes.get("reference"),
            "model": cov.get("model"),
            "seed": cov.get("seed"),
            "k": (cov.get("knn") or {}).get("k"),
            "warnings": [escape_inline(w, 300) for w in cov.get("warnings") or []],
        }

    # Label fidelity: hf_synth.quality.fidelity.label_fidelity gives {dimension: {accuracy, majority_share,
    # uniform_chance, disagreeing_rows: [row indices], n_rows, note, ...}}; a {"dimensions": {...}} wrapper
    # and "chance"/integer counts are accepted too.
    fid = report.get("label_fidelity")
    fid_ctx = None
    if fid:
        per_dim = fid.get("dimensions") or fid.get("per_dimension")
        if not isinstance(per_dim, Mapping):
            per_dim = {k: v for k, v in fid.items() if isinstance(v, Mapping) and "accuracy" in v}
        rows, notes, union, counts = [], [], set(), []
        for d, v in per_dim.items():
            if not isinstance(v, Mapping):
                continue
            acc = v.get("accuracy")
            chance = _first(v, "chance", "majority_share")
            dis = _first(v, "disagreements", "disagreeing_rows", "n_disagree")
            if isinstance(dis, list):
                union.update(int(i) for i in dis)
                dis = len(dis)
            if isinstance(dis, int):
                counts.append(dis)
            rows.append(
                {
                    "dimension": escape_cell(d, None),
                    "accuracy": SafeMd(_pct(acc)),
                    "chance": SafeMd(_pct(chance)),
                    "uniform": SafeMd(_pct(v.get("uniform_chance"))),
                    "lift": SafeMd(
                        _num(float(acc) / float(chance), 1) + "×" if acc is not None and chance else "—"
                    ),
                    "disagreements": dis,
                }
            )
            if v.get("note"):
                notes.append(escape_inline(f"{d}: {v['note']}", 200))
        overall = _first(fid, "disagreeing_rows", "disagreements", "n_disagreeing")
        if isinstance(overall, list):
            overall = len(overall)
        if not isinstance(overall, int):
            # Union of row indices when the producer lists them; else unknown (a sum would double count).
            overall = len(union) if union else (counts[0] if len(counts) == 1 else None)
        n_rows = [v.get("n_rows") for v in per_dim.values() if isinstance(v, Mapping) and v.get("n_rows")]
        fid_ctx = {
            "rows": rows,
            "notes": notes,
            "has_uniform": any(isinstance(v, Mapping) and "uniform_chance" in v for v in per_dim.values()),
            "disagreeing_rows": overall,
            "total": fid.get("n") or (max(n_rows) if n_rows else total),
            "method": fid.get("method") or "cross-validated logistic regression on the text embeddings",
            "model": fid.get("model") or (report.get("coverage") or {}).get("model"),
        }

    # Validation: validate.validate_folder's {ok, chi_square: {dim: {...}}, failures: [...]}; "tests" and
    # "messages" (named tests, free-text lines) are accepted too.
    val = report.get("validation")
    val_ctx = None
    if val:
        tests = []
        for t in val.get("tests") or []:
            if isinstance(t, Mapping):
                tests.append({**t, "name": t.get("name")})
        chi = val.get("chi_square")
        if isinstance(chi, Mapping):
            tests += [{"name": d, **v} for d, v in chi.items() if isinstance(v, Mapping)]
        failures = []
        for f in val.get("failures") or []:
            if not isinstance(f, Mapping):
                failures.append(escape_inline(f, 200))
            elif "target" in f:
                where = f"{f.get('level')}: {f.get('cell')}"
                line = f"{where}: target {f.get('target')}, realised {f.get('realised')}"
                failures.append(escape_inline(line, 200))
            else:
                slots = f.get("slots")
                n = f" ({len(slots)} slot{'s' if len(slots) != 1 else ''})" if isinstance(slots, list) else ""
                failures.append(escape_inline(f"{f.get('level')}: {f.get('cell')}{n}", 200))
        val_ctx = {
            "passed": _first(val, "passed", "ok"),
            "exit_code": val.get("exit_code"),
            "alpha": val.get("alpha"),
            "tests": [
                {
                    "name": escape_cell(t.get("name"), 80),
                    "statistic": SafeMd(_num(t.get("statistic"))),
                    "p_value": SafeMd(_num(t.get("p_value"), 4)),
                    "deviation": SafeMd(_num(t.get("max_abs_deviation"), 0)),
                    "passed": t.get("passed"),
                }
                for t in tests
            ],
            "has_deviation": any(t.get("max_abs_deviation") is not None for t in tests),
            "has_passed": any(t.get("passed") is not None for t in tests),
            "failures": failures[:20],
            "n_failures": len(failures),
            "messages": [escape_inline(m, 300) for m in val.get("messages") or []],
        }

    # Provenance
    backend = recipe.get("backend")
    backend_params = _scalar_items(backend) if isinstance(backend, Mapping) else []
    if not isinstance(backend, Mapping) and backend is not None:
        backend_params = [("name", backend)]
    prov = {
        "backend": gen.get("backend") or (backend.get("name") if isinstance(backend, Mapping) else backend),
        "model": gen.get("model") or (backend.get("model") if isinstance(backend, Mapping) else None),
        "params": [(escape_cell(k, None), _cell_value(v)) for k, v in backend_params],
        "prompt": fenced(recipe.get("prompt") or "", "jinja") if recipe.get("prompt") else None,
        "system": fenced(recipe.get("system")) if recipe.get("system") else None,
        "fingerprint": inline_code(recipe["fingerprint"]) if recipe.get("fingerprint") else None,
        "seed": recipe.get("seed"),
        "recipe_version": recipe.get("version"),
        "version": report.get("hf_synth_version") or __version__,
        "created_at": report.get("created_at"),
        "has_cost": gen.get("cost_usd") is not None,
        "stats": [
            (label, _num(gen.get(key)) if key != "cost_usd" else f"${float(gen[key]):,.4f}")
            for label, key in (
                ("requests", "requests"),
                ("retries", "retries"),
                ("failed attempts", "failed_attempts"),
                ("input tokens", "input_tokens"),
                ("output tokens", "output_tokens"),
                ("cache read tokens", "cache_read_tokens"),
                ("cache write tokens", "cache_write_tokens"),
                ("estimated cost (USD)", "cost_usd"),
                ("wall time (s)", "seconds"),
                ("rows", "rows"),
                ("regenerated duplicates", "regenerated_duplicates"),
                ("regenerated near-duplicates", "regenerated_near_duplicates"),
                ("check failures", "check_failures"),
            )
            if gen.get(key) is not None
        ],
    }

    bib_ds, bib_tool = _citation(report, repo_id, pretty)
    first_config = next(iter(configs), "default")
    return {
        "title": escape_inline(pretty),
        "description": escape_block(recipe.get("description")) if recipe.get("description") else None,
        "total": total,
        "planned": plan.get("total"),
        "limit": plan.get("limit"),
        "n_strata": len(t_strata or r_strata),
        "strata_by": [escape_inline(s) for s in strata_by],
        "dimensions": [
            {"name": escape_inline(d), "n": len(v), "stratum": d in strata_by} for d, v in dims_order.items()
        ],
        "repo_id": repo_id,
        "load_code": {
            c: fenced(
                "from datasets import load_dataset\n\n"
                f"ds = load_dataset({json.dumps(repo_id)}, {json.dumps(c)})\n",
                "python",
            )
            for c in configs
        },
        "first_config": first_config,
        "configs": list(configs),
        "fields": field_rows,
        "strata": strata_rows,
        "strata_target_total": sum(t_strata.values()),
        "strata_realised_total": sum(r_strata.values()),
        "notes": [escape_inline(n, 300) for n in plan.get("notes") or []],
        "charts": charts_ctx,
        "splits": split_rows,
        "edges": edge_rows,
        "edge_total": sum(edge_real.values()),
        "coverage": cov_ctx,
        "fidelity": fid_ctx,
        "validation": val_ctx,
        "prov": prov,
        "license": recipe.get("license") or "other",
        "bib_dataset": fenced(bib_ds, "bibtex"),
        "bib_tool": fenced(bib_tool, "bibtex"),
    }


# ---------------------------------------------------------------------------------------------- rendering


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
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters: dict[str, Callable[..., Any]] = {
        "cell": escape_cell,
        "inline": escape_inline,
        "code": inline_code,
        "num": lambda v, d=3: SafeMd(_num(v, d)),
        "pct": lambda v, d=1: SafeMd(_pct(v, d)),
    }
    env.filters.update(filters)
    return env


def render_body(context: Mapping[str, Any], template_dir: Path | None = None) -> str:
    """Render the generated block (markers included) from a :func:`build_context` view model."""
    env = _environment(template_dir or templates_dir())
    body = env.get_template(TEMPLATE_NAME).render(**context)
    # Collapse runs of blank lines left by optional sections, so output is stable and tidy.
    body = re.sub(r"\n{3,}", "\n\n", body).strip("\n")
    return f"{BEGIN}\n{body}\n{END}"


def split_readme(text: str) -> tuple[dict[str, Any], str]:
    """Split a README into (YAML metadata dict, body). Raises ValueError on unparsable metadata."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"existing README.md has invalid YAML metadata; fix or remove it: {exc}") from exc
    if not isinstance(meta, dict):
        raise ValueError("existing README.md metadata is not a mapping")
    return meta, text[m.end() :]


def merge_readme(existing: str | None, metadata: Mapping[str, Any], block: str) -> str:
    """Combine our metadata and generated block with an existing README, keeping the user's parts.

    Keys in ``OWNED_KEYS`` come from ``metadata`` (and are dropped when we no longer produce them); other
    existing keys stay in place. Text outside the ``BEGIN``/``END`` markers is kept verbatim.
    """
    old_meta, old_body = split_readme(existing) if existing else ({}, "")
    merged = dict(old_meta)
    for key in OWNED_KEYS:
        if key in metadata:
            merged[key] = metadata[key]
        else:
            merged.pop(key, None)
    for key, value in metadata.items():
        merged.setdefault(key, value)

    if not existing:
        body = (
            "\n<!-- Text outside the hf-synth block below is yours: `hf-synth card` keeps it. -->\n\n"
            f"{block}\n"
        )
    else:
        b, e = old_body.find(BEGIN), old_body.find(END)
        if b == -1 and e == -1:
            lead = old_body.rstrip("\n")
            body = (f"{lead}\n\n" if lead.strip() else "\n") + f"{block}\n"
        elif b != -1 and e > b:
            body = old_body[:b] + block + old_body[e + len(END) :]
        else:
            raise ValueError(f"README.md has unbalanced {BEGIN} / {END} markers; fix them, then re-render")
    return f"---\n{dump_yaml(merged)}---\n{body}"


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
    secrets = secret_values()
    report = _scrub(report, secrets)
    repo_id = (
        repo_id or report.get("repo_id") or (report.get("recipe") or {}).get("repo_id") or f"./{folder.name}"
    )

    recipe = report.get("recipe") or {}
    targets = ((report.get("plan") or {}).get("targets") or {}).get("marginals") or {}
    realised = (report.get("realised") or {}).get("marginals") or {}
    charts = dimension_charts(folder, targets, realised, _dimension_order(recipe))

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
    readme.write_text(text, encoding="utf-8")
    return readme


def render_card_from_folder(
    folder: Path, *, template_dir: Path | None = None, repo_id: str | None = None
) -> Path:
    """Re-render ``folder``'s card from its ``report.json``; raises `UsageError` when there is none."""
    report_path = Path(folder) / "report.json"
    if not report_path.is_file():
        raise UsageError(f"{report_path} not found (run `hf-synth generate --out {folder}` first)")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{report_path} is not valid JSON: {exc}") from None
    return render_card(folder, report, template_dir=template_dir, repo_id=repo_id)
