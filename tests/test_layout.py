"""House rules that keep the layout honest (STYLE.md §2, §6)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "abflask"
REDIS_OWNERS = {"store.py", "localredis.py"}
"""The only modules that may talk to Redis directly."""


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_store_and_launcher_import_redis() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name not in REDIS_OWNERS and "redis" in imported_modules(path)
    ]
    assert offenders == []


def test_every_lua_script_documents_keys_argv_and_returns() -> None:
    scripts = sorted((PACKAGE / "storage" / "lua").glob("*.lua"))
    assert scripts
    for script in scripts:
        header = script.read_text().split("\n\n")[0]
        for word in ("KEYS[1]", "ARGV[1]", "Returns"):
            assert word in header, f"{script.name} header lacks {word}"


@pytest.mark.parametrize(
    "module",
    [
        "abflask.core.bucketing",
        "abflask.core.fields",
        "abflask.core.experiment",
        "abflask.core.records",
        "abflask.sdk",
    ],
)
def test_pure_modules_import_no_io_library(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(sorted({'flask', 'redis', 'pandas', 'numpy', 'werkzeug'} "
        "& set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout.strip() == "[]"
