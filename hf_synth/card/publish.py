"""The card as it is uploaded: rendered for the repo id a folder is pushed to, without touching the folder.

``hf-synth push DIR --repo-id ORG/NAME`` may name another repo than the one the local card was rendered for;
its ``load_dataset("...")`` snippets and citation must name the target. ``hf_synth.hub.push`` sits below the
card stage, so it takes :func:`release_card` as a callback and uploads what it returns instead of the local
README and charts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hf_synth.card.readme import BEGIN
from hf_synth.card.render import compose_card, read_report


def release_card(folder: Path, repo_id: str, template_dir: Path | None = None) -> dict[str, bytes]:
    """{repo path: content} of the card files of ``folder`` rendered for ``repo_id``: ``README.md`` and the
    ``images/*.png`` charts it links (byte-for-byte what ``hf-synth card DIR --repo-id`` would write).

    The folder is not changed. Returns {} when there is nothing of ours to re-render: no README.md, or a
    README without the hf-synth block (the user's own card is uploaded as it is). Raises `UsageError` when
    the block is there but report.json is missing or not valid JSON.
    Environment secrets are scrubbed (see :func:`~hf_synth.card.render.compose_card`); the text outside the
    generated block and unknown metadata keys of the local README are kept.
    """
    folder = Path(folder)
    readme = folder / "README.md"
    if not readme.is_file() or BEGIN not in readme.read_text(encoding="utf-8"):
        return {}
    report = read_report(folder)  # our block without its report.json cannot be re-rendered: UsageError
    with tempfile.TemporaryDirectory(prefix="hf-synth-card-") as tmp:
        text, charts = compose_card(
            folder, report, template_dir=template_dir, repo_id=repo_id, image_root=Path(tmp)
        )
        files = {"README.md": text.encode("utf-8")}
        files.update({rel: (Path(tmp) / rel).read_bytes() for rel in charts.values()})
    return files
