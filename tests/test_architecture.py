"""Import rules: the agent core never depends on the GUI, Qt or the registry service."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO_ROOT

FORBIDDEN_IN_AGENT = ("PyQt6", "PySide6", "gui", "registry")


def test_agent_never_imports_gui_qt_or_registry() -> None:
    offenders = []
    for path in (REPO_ROOT / "agent").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in FORBIDDEN_IN_AGENT:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_import_linter_contracts_hold() -> None:
    lint_imports = [sys.executable, "-m", "importlinter.cli"]
    result = subprocess.run([*lint_imports], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
