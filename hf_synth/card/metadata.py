"""The card's YAML metadata: configs, dataset_info (ClassLabel names, exact sizes), tags, size category.

YAML is built as plain Python data (via ``huggingface_hub.DatasetCardData``) and written by a
``yaml.SafeDumper``, never by string templating; multi-line values are double-quoted so no line can end the
front matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hf_synth import __version__
from hf_synth.card.files import data_configs, parquet_stats
from hf_synth.card.report_keys import as_list, total_rows

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


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` rows (``n<1K`` … ``n>1T``)."""
    for bound, label in _SIZE_BUCKETS:
        if n < bound:
            return label
    return "n>1T"


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


def _configs_yaml(configs: Mapping[str, Mapping[str, list[str]]]) -> list[dict[str, Any]]:
    out = []
    for name, splits in configs.items():
        entry: dict[str, Any] = {"config_name": name}
        if name == "default":
            entry["default"] = True
        # Explicit file lists, no globs: a stale file left in data/ must never be served.
        entry["data_files"] = [{"split": s, "path": list(paths)} for s, paths in splits.items()]
        out.append(entry)
    return out


def _dataset_info(
    report: Mapping[str, Any], folder: Path, configs: Mapping[str, Mapping[str, list[str]]]
) -> list[dict[str, Any]]:
    """One dataset_info entry per config: features and, when every file is readable, exact split sizes."""
    out = []
    features = _features_yaml(report["features"]) if report.get("features") else None
    for name, splits in configs.items():
        info: dict[str, Any] = {"config_name": name}
        if features is not None:
            info["features"] = features
        split_rows = []
        total_bytes = 0
        for split, paths in splits.items():
            stats = parquet_stats(folder, paths)
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
        out.append(info)
    return out


def build_metadata(report: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """The YAML metadata we own, as a plain dict (built through ``huggingface_hub.DatasetCardData``)."""
    from huggingface_hub import DatasetCardData

    recipe = report.get("recipe") or {}
    gen = report.get("generation") or {}
    configs = data_configs(report, folder)
    edge_rows = sum(((report.get("realised") or {}).get("edge_cases") or {}).values())
    has_edges = edge_rows > 0 or "edge_cases" in configs

    tags = ["synthetic", "stratified", "hf-synth"] + (["edge-cases"] if has_edges else [])
    tags += [t for t in as_list(recipe.get("tags")) if t not in tags]

    task_categories = as_list(recipe.get("task_categories"))
    if not task_categories:
        task_categories = ["text-classification"] if recipe.get("dimensions") else ["text-generation"]

    dataset_info = _dataset_info(report, folder, configs)
    hf_synth_meta = {
        "version": report.get("hf_synth_version") or __version__,
        "recipe": recipe.get("name"),
        "recipe_version": recipe.get("version"),
        "description": recipe.get("description"),
        "fingerprint": recipe.get("fingerprint"),
        "seed": recipe.get("seed"),
        "created_at": report.get("created_at"),
        # False: the run stopped short (the card opens with a banner); `hf-synth push` refuses such a folder.
        "complete": report.get("complete", True) is not False,
        "backend": gen.get("backend"),
        "model": gen.get("model"),
    }
    card_data = DatasetCardData(
        license=recipe.get("license") or "other",
        language=as_list(recipe.get("language")) or None,
        pretty_name=str(recipe.get("pretty_name") or recipe.get("name") or folder.name),
        task_categories=task_categories,
        size_categories=[size_category(total_rows(report))],
        tags=tags,
        configs=_configs_yaml(configs) or None,
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
