"""Tests for abflask.config: parsing the environment, defaults, and the docs table."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from abflask import config
from abflask.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
HEADER = ("variable", "default", "meaning")


# --- from_env ----------------------------------------------------------------


def test_empty_environment_gives_nothing() -> None:
    assert config.from_env({}) == {}


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("REDIS_URL", "redis://db:6379/1", "redis://db:6379/1"),
        ("REDIS_URL", "rediss://db:6380/0", "rediss://db:6380/0"),
        ("REDIS_URL", "unix:///tmp/redis.sock", "unix:///tmp/redis.sock"),
        ("ABFLASK_KEY_PREFIX", "ab-prod_2", "ab-prod_2"),
        ("ABFLASK_ADMIN_TOKEN", "0123456789abcdef", "0123456789abcdef"),
        ("ABFLASK_SECRET_KEY", "k" * 32, "k" * 32),
        ("ABFLASK_VIEWER_TOKEN", "viewer-0123456789", "viewer-0123456789"),
        ("ABFLASK_DEFAULT_EXPERIMENT", "home.hero-v2", "home.hero-v2"),
        ("ABFLASK_CONFIG_TTL", "2.5", 2.5),
        ("ABFLASK_CONFIG_TTL", "0", 0.0),
        ("ABFLASK_REDIS_TIMEOUT", "0.25", 0.25),
        ("ABFLASK_MAX_BATCH", "10", 10),
        ("ABFLASK_MAX_REQUEST_BYTES", "2048", 2048),
        ("ABFLASK_BIND", "0.0.0.0:8080", "0.0.0.0:8080"),
        ("ABFLASK_BIND", "[::1]:8000", "[::1]:8000"),
        ("ABFLASK_BIND", "unix:/run/abflask.sock", "unix:/run/abflask.sock"),
        ("ABFLASK_WORKERS", "4", 4),
        ("ABFLASK_WORKER_CLASS", "sync", "sync"),
        ("ABFLASK_WORKER_CLASS", "GEVENT", "gevent"),
        ("ABFLASK_LOG_LEVEL", "debug", "debug"),
        ("ABFLASK_LOG_LEVEL", "WARNING", "warning"),
        ("ABFLASK_DATA_DIR", "/srv/abflask", "/srv/abflask"),
        ("ABFLASK_MAX_BATCH", " 10 ", 10),
    ],
    ids=[
        "redis-url",
        "rediss-url",
        "unix-url",
        "key-prefix",
        "admin-token-16-chars",
        "secret-key-32-chars",
        "viewer-token-17-chars",
        "default-experiment",
        "config-ttl-float",
        "config-ttl-zero",
        "redis-timeout",
        "max-batch",
        "max-request-bytes",
        "bind-host-port",
        "bind-ipv6",
        "bind-unix",
        "workers",
        "worker-class-sync",
        "worker-class-upper-case",
        "log-level",
        "log-level-upper-case",
        "data-dir",
        "surrounding-spaces",
    ],
)
def test_variable_parses(name: str, raw: str, expected: Any) -> None:
    assert config.from_env({name: raw}) == {name: expected}


@pytest.mark.parametrize("name", sorted(config.PARSERS))
def test_empty_string_counts_as_unset(name: str) -> None:
    assert config.from_env({name: ""}) == {}


def test_unrelated_variables_are_ignored() -> None:
    assert config.from_env({"HOME": "/root", "ABFLASK_NOPE": "1"}) == {}


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("REDIS_URL", "http://x"),
        ("ABFLASK_KEY_PREFIX", "Has:Colon"),
        ("ABFLASK_KEY_PREFIX", "p" * 17),
        ("ABFLASK_ADMIN_TOKEN", "short"),
        ("ABFLASK_SECRET_KEY", "k" * 31),
        ("ABFLASK_VIEWER_TOKEN", "v" * 15),
        ("ABFLASK_DEFAULT_EXPERIMENT", "a b"),
        ("ABFLASK_CONFIG_TTL", "soon"),
        ("ABFLASK_CONFIG_TTL", "nan"),
        ("ABFLASK_CONFIG_TTL", "3601"),
        ("ABFLASK_REDIS_TIMEOUT", "0"),
        ("ABFLASK_MAX_BATCH", "1.5"),
        ("ABFLASK_MAX_BATCH", "0"),
        ("ABFLASK_MAX_REQUEST_BYTES", "1023"),
        ("ABFLASK_BIND", "nohost"),
        ("ABFLASK_BIND", "host:http"),
        ("ABFLASK_BIND", "host:65536"),
        ("ABFLASK_WORKERS", "0"),
        ("ABFLASK_WORKERS", "257"),
        ("ABFLASK_LOG_LEVEL", "verbose"),
        ("ABFLASK_WORKER_CLASS", "eventlet"),
    ],
    ids=[
        "redis-url-http",
        "key-prefix-colon",
        "key-prefix-17-chars",
        "admin-token-short",
        "secret-key-31-chars",
        "viewer-token-15-chars",
        "default-experiment-space",
        "config-ttl-word",
        "config-ttl-nan",
        "config-ttl-over-an-hour",
        "redis-timeout-zero",
        "max-batch-float",
        "max-batch-zero",
        "max-request-bytes-under-1k",
        "bind-no-port",
        "bind-port-name",
        "bind-port-too-big",
        "workers-zero",
        "workers-257",
        "log-level-unknown",
        "worker-class-unknown",
    ],
)
def test_bad_variable_raises_config_error_naming_it(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}="):
        config.from_env({name: raw})


@pytest.mark.parametrize(
    "name",
    [
        "ABFLASK_ADMIN_TOKEN",
        "ABFLASK_SDK_KEYS",
        "ABFLASK_SECRET_KEY",
        "ABFLASK_VIEWER_TOKEN",
    ],
)
def test_a_bad_secret_is_named_but_never_shown(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}=") as info:
        config.from_env({name: "hunter2-secret"})
    assert "hunter2" not in info.value.message


def test_every_bad_variable_is_named_in_one_error() -> None:
    bad = {
        "REDIS_URL": "http://x",
        "ABFLASK_KEY_PREFIX": "Has:Colon",
        "ABFLASK_ADMIN_TOKEN": "short",
        "ABFLASK_WORKERS": "0",
        "ABFLASK_BIND": "nohost",
    }
    with pytest.raises(ConfigError) as info:
        config.from_env({**bad, "ABFLASK_MAX_BATCH": "10"})
    named = set(re.findall(r"\b(REDIS_URL|ABFLASK_[A-Z_]+)=", info.value.message))
    assert named == set(bad)


# --- load and redis_url_is_set -----------------------------------------------


def test_load_without_variables_gives_defaults() -> None:
    assert config.load({}) == {
        **config.DEFAULTS,
        "ABFLASK_WORKERS": config.default_workers(),
    }


def test_load_overlays_the_environment_on_defaults() -> None:
    settings = config.load({"ABFLASK_MAX_BATCH": "10", "ABFLASK_LOG_LEVEL": "ERROR"})
    assert settings == {
        **config.DEFAULTS,
        "ABFLASK_MAX_BATCH": 10,
        "ABFLASK_LOG_LEVEL": "error",
        "ABFLASK_WORKERS": config.default_workers(),
    }


def test_load_keeps_explicit_workers() -> None:
    assert config.load({"ABFLASK_WORKERS": "3"})["ABFLASK_WORKERS"] == 3


def test_load_does_not_change_defaults() -> None:
    before = dict(config.DEFAULTS)
    config.load({"ABFLASK_MAX_BATCH": "10"})
    assert config.DEFAULTS == before


def test_load_raises_for_a_bad_variable() -> None:
    with pytest.raises(ConfigError, match="ABFLASK_WORKERS="):
        config.load({"ABFLASK_WORKERS": "many"})


def test_default_workers_is_two_per_cpu_plus_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert config.default_workers() == 9


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"REDIS_URL": ""}, False),
        ({"ABFLASK_KEY_PREFIX": "x"}, False),
        ({"REDIS_URL": "redis://db:6379/0"}, True),
    ],
    ids=["unset", "empty", "other-variable", "set"],
)
def test_redis_url_is_set(environ: dict[str, str], expected: bool) -> None:
    assert config.redis_url_is_set(environ) is expected


# --- defaults and the documentation table ------------------------------------


def table_rows(text: str) -> list[tuple[str, ...]]:
    """The rows of the markdown table headed ``| variable | default | meaning |``.

    Each row is its tuple of stripped cells, so column padding does not matter;
    the header and the ``|---|`` separator are left out.
    """
    lines = [line.strip() for line in text.splitlines()]
    headers = [
        i
        for i, line in enumerate(lines)
        if line.startswith("|") and _cells(line) == HEADER
    ]
    assert headers, "no `| variable | default | meaning |` table found"
    rows: list[tuple[str, ...]] = []
    for line in lines[headers[0] + 1 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            rows.append(cells)
    return rows


def _cells(line: str) -> tuple[str, ...]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return tuple(cell.strip() for cell in re.split(r"(?<!\\)\|", inner))


def docstring_table() -> dict[str, tuple[str, ...]]:
    assert config.__doc__ is not None
    return {row[0].strip("`"): row for row in table_rows(config.__doc__)}


def test_readme_table_equals_docstring_table() -> None:
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing at the repository root"
    assert config.__doc__ is not None
    assert table_rows(readme.read_text(encoding="utf-8")) == table_rows(config.__doc__)


def test_docstring_table_lists_exactly_the_parsed_variables() -> None:
    assert sorted(docstring_table()) == sorted(config.PARSERS)


def test_every_parsed_variable_has_a_default() -> None:
    assert sorted(config.DEFAULTS) == sorted(config.PARSERS)


@pytest.mark.parametrize(
    "name", sorted(name for name, v in config.DEFAULTS.items() if v is not None)
)
def test_default_is_documented_and_valid(name: str) -> None:
    default = config.DEFAULTS[name]
    assert docstring_table()[name][1] == f"`{default}`"
    assert config.from_env({name: str(default)}) == {name: default}
