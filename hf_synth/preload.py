"""Import modules on a background thread while the process waits on the network.

A `generate` run against the Messages API spends most of its wall time waiting for answers, with the event
loop idle most of that time. The modules needed only after the last answer (datasets and pyarrow for the
parquet files, matplotlib for the card's charts) cost about 1.5 s of import, which otherwise comes
after the run. Importing them during the run hides that time behind the network wait.

Two threads importing at once can deadlock on CPython's per-module import locks when their import graphs
cross (each holding a module the other needs), which CPython reports as a `RuntimeError`. So the caller
preloads only while its own thread imports nothing new (`generate` preloads around a run whose backends are
all remote, their SDK imported first, and that runs no embedder), and `preloading` joins the thread before
the block's caller goes on: no import runs beside the code after the block.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import threading
from collections.abc import Iterable, Iterator

__all__ = ["preloading"]

log = logging.getLogger(__name__)


def _import_all(names: list[str], failed: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # the caller's own import raises the real error, where it is handled
            failed.append(name)


@contextlib.contextmanager
def preloading(modules: Iterable[str], enabled: bool = True) -> Iterator[None]:
    """Import `modules` (dotted names) on a daemon thread for the duration of the block.

    The thread is joined when the block ends, whichever way it ends; a module that failed to import here is
    only logged at debug level, since the caller's later import of it raises the real error. With `enabled`
    False (or when every module is already imported) nothing is started.
    """
    names = [m for m in modules if m not in sys.modules]
    if not enabled or not names:
        yield
        return
    failed: list[str] = []
    thread = threading.Thread(target=_import_all, args=(names, failed), name="hf-synth-preload", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
        if failed:
            log.debug("preload: %s did not import in the background", ", ".join(failed))
