"""Who owns an output folder, and who is writing into it right now.

An output folder belongs to one recipe (by name): `.hf-synth/owner.json` records the name and the fingerprint
of the recipe that last ran there. Running another recipe into it, or writing into a non-empty folder that
hf-synth did not make, is refused (`OutputFolderError`, exit 2) unless `overwrite=True`, which removes the
folder's contents and says what it removed. The same recipe with a changed prompt or settings keeps the
folder: its run store regenerates exactly the rows whose requests changed. An exclusive `flock` on
`.hf-synth/lock` keeps a second process out for as long as a run holds the folder (the kernel releases it when
the process ends, even by `kill -9`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from hf_synth.errors import OutputFolderError

STATE_DIR = ".hf-synth"
OWNER_FILE = f"{STATE_DIR}/owner.json"
LOCK_FILE = f"{STATE_DIR}/lock"
STORE_FILE = f"{STATE_DIR}/run.sqlite"


@dataclass(frozen=True)
class FolderOwner:
    """The recipe an output folder belongs to."""

    recipe_name: str
    fingerprint: str
    claimed_at: str


def read_owner(folder: Path) -> FolderOwner | None:
    """The folder's recorded owner; for folders of older hf-synth versions, the name in report.json."""
    path = folder / OWNER_FILE
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return FolderOwner(data["recipe_name"], data.get("fingerprint", ""), data.get("claimed_at", ""))
    report = folder / "report.json"
    if (folder / STORE_FILE).is_file() and report.is_file():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            recipe = json.loads(report.read_text(encoding="utf-8"))["recipe"]
            return FolderOwner(recipe["name"], recipe.get("fingerprint", ""), "")
    return None


def _made_by_hf_synth(folder: Path) -> bool:
    return (folder / STATE_DIR).is_dir()


def _contents(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def check_folder(folder: Path, recipe_name: str, fingerprint: str) -> None:
    """Raise `OutputFolderError` when `folder` may not receive this recipe's run (without `overwrite`)."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise OutputFolderError(f"--out {folder} exists and is not a folder")
    owner = read_owner(folder)
    if owner is not None and owner.recipe_name != recipe_name:
        raise OutputFolderError(
            f"{folder} holds the dataset of recipe '{owner.recipe_name}' (fingerprint "
            f"{owner.fingerprint[:12] or '?'}), not of '{recipe_name}' (fingerprint {fingerprint[:12]}): "
            "choose another --out, or pass --overwrite to delete its contents"
        )
    contents = [name for name in _contents(folder) if name != STATE_DIR]
    if owner is None and contents and not _made_by_hf_synth(folder):
        shown = ", ".join(contents[:8]) + (" ..." if len(contents) > 8 else "")
        raise OutputFolderError(
            f"{folder} is not empty and was not made by hf-synth ({shown}): choose an empty or new --out, "
            "or pass --overwrite to delete its contents"
        )


def clear_folder(folder: Path) -> list[str]:
    """Delete everything in `folder` but the lock file; returns the names removed (top level)."""
    removed = []
    for entry in sorted(folder.iterdir()):
        if entry.name == STATE_DIR:
            for inner in sorted(entry.iterdir()):
                if inner.name != Path(LOCK_FILE).name:
                    shutil.rmtree(inner) if inner.is_dir() and not inner.is_symlink() else inner.unlink()
            removed.append(f"{STATE_DIR}/ (run store)")
            continue
        is_dir = entry.is_dir() and not entry.is_symlink()
        shutil.rmtree(entry) if is_dir else entry.unlink()
        removed.append(entry.name + ("/" if is_dir else ""))
    return removed


def write_owner(folder: Path, recipe_name: str, fingerprint: str) -> None:
    """Record `recipe_name` as the folder's owner (atomically)."""
    owner = FolderOwner(recipe_name, fingerprint, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    path = folder / OWNER_FILE
    previous = read_owner(folder)
    if previous is not None and previous.recipe_name == recipe_name and previous.fingerprint == fingerprint:
        return  # an unchanged re-run changes no file
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(owner), indent=2), encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def hold_folder(folder: Path) -> Iterator[None]:
    """Hold the folder's exclusive lock for the duration of the block; `OutputFolderError` when in use."""
    (folder / STATE_DIR).mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise OutputFolderError(
                f"{folder} is in use by {holder}: wait for it to finish (two runs on one folder would "
                "overwrite each other's rows)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def claim_folder(
    folder: Path, recipe_name: str, fingerprint: str, *, overwrite: bool = False
) -> Iterator[list[str]]:
    """Check, lock and (with `overwrite`) clear `folder` for a run of `recipe_name`.

    Yields the names removed by `overwrite` (empty otherwise) while holding the lock.
    """
    if not overwrite:
        check_folder(folder, recipe_name, fingerprint)
    folder.mkdir(parents=True, exist_ok=True)
    with hold_folder(folder):
        removed: list[str] = []
        if overwrite:
            removed = clear_folder(folder)
        else:
            check_folder(folder, recipe_name, fingerprint)  # again, now that no one else can change it
        write_owner(folder, recipe_name, fingerprint)
        yield removed
