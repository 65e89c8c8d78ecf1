"""Every module imports on its own and in any order: no import cycle, latent or not.

A cycle shows only when its modules are imported in one particular order, so
each module is imported first into an interpreter that has no abflask module
loaded yet (third-party modules stay loaded, which keeps this fast).
"""

from __future__ import annotations

import itertools
import json
import pkgutil
import subprocess
import sys

import pytest

import abflask
from tests.helpers import ROOT

PACKAGES = [
    "abflask.service.app",
    "abflask.analysis",
    "abflask.sdk",
    "abflask.storage",
    "abflask.core",
]
"""The issue's check: these five, in every order."""

PROBE = """
import importlib, json, sys
failures = {}
for order in json.loads(sys.argv[1]):
    for name in [m for m in sys.modules if m == "abflask" or m.startswith("abflask.")]:
        del sys.modules[name]
    try:
        for module in order:
            importlib.import_module(module)
    except Exception as exc:
        failures[" ".join(order)] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failures))
"""


def modules() -> list[str]:
    """Every module of abflask, except the ``__main__`` entry points."""
    found = pkgutil.walk_packages(abflask.__path__, "abflask.")
    return sorted(m.name for m in found if not m.name.endswith(".__main__"))


def import_failures(orders: list[list[str]]) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(orders)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    failures: dict[str, str] = json.loads(result.stdout)
    return failures


def test_the_walk_finds_every_package() -> None:
    found = modules()
    assert {"abflask.core.bucketing", "abflask.service.api.admin"} <= set(found)
    assert {"abflask.sdk.reporter", "abflask.analysis.cli"} <= set(found)
    assert len(found) > 40


def test_every_module_imports_first() -> None:
    assert import_failures([[m] for m in modules()]) == {}


def test_the_programs_import_in_any_order() -> None:
    orders = [list(p) for p in itertools.permutations(PACKAGES)]
    assert len(orders) == 120
    assert import_failures(orders) == {}


@pytest.mark.parametrize("module", ["abflask.service.app", "abflask.sdk"])
def test_a_failing_import_would_be_reported(module: str) -> None:
    broken = [[module, "abflask.core.no_such_module"]]
    assert list(import_failures(broken)) == [f"{module} abflask.core.no_such_module"]
