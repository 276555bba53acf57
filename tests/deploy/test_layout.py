"""The layout says the design: one installed package, no import circles, no public name defined
twice, and the wings' import rules (pyproject.toml's import-linter contracts, also run by CI's
`lint-imports`)."""
from __future__ import annotations

import ast
import collections
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")

PACKAGE = Path(__file__).resolve().parents[2] / "dashcart"
#: Names every module of a plug-in family defines by design: each command module's `register`
#: and `run`, each screen's `build`, each camera backend's `open_backend`.
PLUG_IN_NAMES = {"register", "run", "build", "open_backend"}


def test_one_top_level_name_is_installed() -> None:
    top_level = importlib.metadata.distribution("dashcart").read_text("top_level.txt") or ""
    assert top_level.split() == ["dashcart"]


def test_no_import_circles() -> None:
    graph = grimp.build_graph("dashcart")
    circles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if module < imported and graph.chain_exists(imported=module, importer=imported):
                circles.append(f"{module} <-> {imported}")
    assert circles == []


def test_no_public_name_is_defined_twice() -> None:
    where: dict[str, set[str]] = collections.defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                    and not node.name.startswith("_") and node.name not in PLUG_IN_NAMES:
                where[node.name].add(str(path.relative_to(PACKAGE.parent)))
    assert {name: sorted(paths) for name, paths in where.items() if len(paths) > 1} == {}


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.is_file():
        pytest.skip("import-linter is not installed (the [test] extra has it)")
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:]
