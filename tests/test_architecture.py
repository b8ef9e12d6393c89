"""The package's shape: imports run one way down the flow, no import cycles, no oversized modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hf_synth"

# Stages from the top of the flow to the bottom; a module may import its own stage and the ones below it.
LAYERS: list[set[str]] = [
    {"cli", "testing"},  # testing: the loopback Anthropic API, a test double that reads our price table
    {"release"},
    {"pipeline"},
    {"card"},
    {"dataset"},
    {"planning"},
    {"generation"},
    {"recipe", "edge_cases", "quality", "hub"},
    {"errors", "secrets", "fonts", "preload"},
]
MAX_LINES = 650  # "no module over ~600 lines"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_only_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside `if TYPE_CHECKING:` blocks (annotations only, never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out.update(id(n) for child in node.body for n in ast.walk(child))
    return out


def _imports(path: Path, name: str, known: set[str], *, type_only: bool = True) -> set[str]:
    """Every hf_synth module `path` imports anywhere (top level, functions and, with `type_only`, the
    TYPE_CHECKING blocks)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    skip = set() if type_only else _type_only_nodes(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("hf_synth"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("hf_synth"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
    out.discard(name)
    return out


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _layer(stage: str) -> int:
    for i, layer in enumerate(LAYERS):
        if stage in layer:
            return i
    raise AssertionError(f"stage {stage!r} is in no layer of tests/test_architecture.py")


def _graph(type_only: bool = True) -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(path, name, known, type_only=type_only) for name, path in mods.items()}


def test_imports_run_down_the_flow() -> None:
    upward = []
    for module, imported in _graph().items():
        stage = _stage(module)
        if stage is None:
            continue  # hf_synth/__init__.py: the Python API sits above every stage
        for target in imported:
            tstage = _stage(target)
            if tstage is None:
                continue  # `from hf_synth import __version__`
            if _layer(tstage) < _layer(stage):
                upward.append(f"{module} -> {target}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    # Run-time imports only: a TYPE_CHECKING import names a type for annotations and is never executed.
    graph = _graph(type_only=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph or w == "hf_synth":
                # Every submodule import loads the root package first; an edge to it is no dependency.
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_over_the_size_limit() -> None:
    big = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    # The checker itself must be able to fail: an import of the pipeline from a stage is flagged.
    fake = tmp_path / "hf_synth" / "dataset"
    fake.mkdir(parents=True)
    (fake / "x.py").write_text("def f():\n    from hf_synth.pipeline import generate\n", encoding="utf-8")
    found = _imports(fake / "x.py", "hf_synth.dataset.x", {"hf_synth.pipeline"})
    assert found == {"hf_synth.pipeline"}
    assert _layer(_stage("hf_synth.pipeline")) < _layer(_stage("hf_synth.dataset.x"))
