"""The package's layers, as docs/architecture.md draws them: what each package may import.

A newcomer's change that makes, say, ``routing`` import ``evaluation`` fails here with the module and
the import that crossed the line, instead of growing a cycle nobody notices.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "avengers_pro"

#: The foundation every package may use: errors, the console and job start, atomic I/O, result
#: file contracts, HTTP, caches.
FOUNDATION = {"errors", "console", "runlog", "io", "outputs", "http", "sqlite_cache", "download", "(root)"}

#: Package -> the other units of avengers_pro it may import (besides the foundation).
ALLOWED = {
    "routing": set(),
    "evaluation": {"routing"},
    "plots": {"evaluation"},
    "embeddings": set(),
    "formats": {"embeddings", "tokens"},
    "collect": {"config", "formats"},
    "export": {"routing", "evaluation", "embeddings", "config"},
    "serve": {"export", "embeddings"},
}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("avengers_pro"):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("avengers_pro")]
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_its_layers(package):
    allowed = ALLOWED[package] | FOUNDATION | {package}
    crossings = [
        f"{path.relative_to(SRC)}:{line}: imports {module}"
        for path in sorted((SRC / package).rglob("*.py"))
        for line, module in _imports(path)
        if _unit(module) not in allowed
    ]
    assert crossings == []


def test_nothing_at_run_time_imports_the_testing_package():
    users = [
        f"{path.relative_to(SRC)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        if "testing" not in path.relative_to(SRC).parts
        for line, module in _imports(path)
        if _unit(module) == "testing"
    ]
    assert users == []


def test_the_layers_catch_a_crossing(tmp_path):
    # The check itself can fail: a routing module importing evaluation is found.
    bad = tmp_path / "bad.py"
    bad.write_text("from avengers_pro.evaluation import metrics\n")
    assert [_unit(module) for _, module in _imports(bad)] == ["evaluation"]
    assert "evaluation" not in ALLOWED["routing"] | FOUNDATION


def test_every_name_a_rule_script_imports_from_the_package_exists():
    """The rules' scripts run only inside a pipeline job; a name moved in the package fails here
    instead of in the middle of a run."""
    import importlib
    import importlib.util

    scripts = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
    missing = []
    for path in sorted(scripts.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("avengers_pro"):
                module = importlib.import_module(node.module)
                missing += [
                    f"{path.name}: {node.module}.{alias.name}"
                    for alias in node.names
                    if not hasattr(module, alias.name)
                    and importlib.util.find_spec(f"{node.module}.{alias.name}") is None
                ]
    assert missing == []
