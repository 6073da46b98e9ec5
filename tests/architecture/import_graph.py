"""The package's import graph, read from the source (no module is imported).

Layers point down: a module may import its own package and packages in lower layers only; two
packages of one layer are independent. Shared by the layering test and `python -m
tests.architecture.import_graph` (prints the graph and every violation).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "melanoma_exp"

# Lowest first. `melanoma_exp` itself is the package root (version, disclaimer).
LAYERS: list[list[str]] = [
    ["melanoma_exp", "melanoma_exp.paths", "melanoma_exp.schema", "melanoma_exp.console"],
    ["melanoma_exp.config"],
    ["melanoma_exp.models", "melanoma_exp.data", "melanoma_exp.tracking"],
    ["melanoma_exp.training", "melanoma_exp.explain"],
    ["melanoma_exp.evaluation"],
    ["melanoma_exp.export", "melanoma_exp.sweep"],
    ["melanoma_exp.commands"],
]

# Third-party packages whose import costs seconds (or starts TensorFlow): the only reason a
# module may import another module of the project inside a function.
HEAVY = {"tensorflow", "keras", "mlflow", "optuna", "matplotlib", "sklearn", "scipy", "pandas",
         "jax", "torch", "ai_edge_litert", "tensorflow_datasets"}


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (resolved to a module of the package when possible)
    local: bool  # inside a function body
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _resolve(name: str, alias: str | None, known: dict[str, Path]) -> str:
    """`from a.b import c`: the module a.b.c when it exists, else a.b."""
    if alias and f"{name}.{alias}" in known:
        return f"{name}.{alias}"
    return name


def imports_of(path: Path, known: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    source = module_name(path)
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            local = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                for alias in child.names:
                    found.append(Import(source, _resolve(child.module, alias.name, known), in_function,
                                        child.lineno))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(source, alias.name, in_function, child.lineno))
            visit(child, local)

    visit(tree, False)
    return found


def graph() -> list[Import]:
    known = modules()
    return [imp for path in known.values() for imp in imports_of(path, known)]


def internal(imports: list[Import]) -> list[Import]:
    return [i for i in imports if i.target == PACKAGE or i.target.startswith(PACKAGE + ".")]


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, the layer's package) of a module: the longest matching package prefix."""
    best: tuple[int, str] | None = None
    for level, packages in enumerate(LAYERS):
        for package in packages:
            if module == package or module.startswith(package + "."):
                if best is None or len(package) > len(best[1]):
                    best = (level, package)
    if best is None:
        raise KeyError(f"{module} is in no layer: add its package to LAYERS in {__file__}")
    return best


def layer_violations(imports: list[Import]) -> list[str]:
    """Imports that point up a layer or sideways into another package of the same layer."""
    bad = []
    for imp in internal(imports):
        (src_level, src_pkg), (dst_level, dst_pkg) = layer_of(imp.source), layer_of(imp.target)
        if src_pkg == dst_pkg or dst_level < src_level:
            continue
        kind = "up" if dst_level > src_level else "sideways"
        bad.append(f"{imp.source}:{imp.line} imports {imp.target} ({kind}: {src_pkg} -> {dst_pkg})")
    return bad


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (function-local imports included)."""
    edges: dict[str, set[str]] = {}
    for imp in internal(imports):
        if imp.target != imp.source:
            edges.setdefault(imp.source, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    return found


def heavy_modules(imports: list[Import]) -> set[str]:
    """Modules of the package whose import (transitively, module level only) loads a HEAVY library."""
    top = [i for i in imports if not i.local]
    heavy = {i.source for i in top if i.target.split(".")[0] in HEAVY}
    changed = True
    while changed:
        changed = False
        for imp in internal(top):
            if imp.target in heavy and imp.source not in heavy:
                heavy.add(imp.source)
                changed = True
    return heavy


def needless_local_imports(imports: list[Import]) -> list[str]:
    """Function-local imports of project modules that load nothing heavy (they belong at the top)."""
    heavy = heavy_modules(imports)
    return [f"{i.source}:{i.line} imports {i.target} inside a function, but it loads nothing heavy"
            for i in internal(imports) if i.local and i.target not in heavy and i.target != PACKAGE]


if __name__ == "__main__":
    everything = graph()
    for line in layer_violations(everything):
        print("LAYER", line)
    for group in cycles(everything):
        print("CYCLE", " <-> ".join(group))
    for line in needless_local_imports(everything):
        print("LOCAL", line)
