"""Configuration: the only module that reads environment variables.

Every setting, its default and its meaning (the README repeats this table and a
test keeps the two in step):

| variable | default | meaning |
|---|---|---|
| `REDIS_URL` | `redis://127.0.0.1:6379/0` | Redis to use (`redis://`, `rediss://` or `unix://`). `make run` starts a private server under `ABFLASK_DATA_DIR` when unset, and the commands (`abflask`, `flask`, `scripts/analyze.py`) then find it there. |
| `ABFLASK_KEY_PREFIX` | `ab` | Prefix of every Redis key (1-16 of `a-z 0-9 _ -`), so several deployments can share one Redis. |
| `ABFLASK_ADMIN_TOKEN` | unset | Bearer token of the admin API (16+ characters). Unset: the admin API answers 403. |
| `ABFLASK_SDK_KEYS` | unset | Comma-separated keys (16+ characters each) the SDK sends as `X-SDK-Key` to fetch its configuration and record exposures. Unset: those endpoints answer 403. |
| `ABFLASK_SECRET_KEY` | unset | Key (32+ characters) that signs the dashboard's session cookie. Unset: derived from `ABFLASK_ADMIN_TOKEN` (HMAC-SHA256), so every worker and restart agrees and changing the token logs everyone out; with neither set the dashboard cannot log anyone in. |
| `ABFLASK_VIEWER_TOKEN` | unset | Read-only dashboard login (16+ characters): sees every page, may change nothing. Unset: only the admin token logs in. |
| `ABFLASK_DEFAULT_EXPERIMENT` | `default` | Experiment used by `/process_user` without `experiment`; created (`control`/`experiment`, 50/50) and started on first use if missing. |
| `ABFLASK_CONFIG_TTL` | `1.0` | Longest time, in seconds, a worker serves a cached definition with no change announced: a safety net, since changes are pushed to every worker (see the Admin API). Writes to a running experiment are checked against Redis on every request regardless. |
| `ABFLASK_ASSIGNMENT_CACHE` | `100000` | Stored assignments each worker remembers, so returning users are answered without a Redis round trip (they never change once stored). `0` turns it off. |
| `ABFLASK_REDIS_TIMEOUT` | `1.0` | Seconds allowed for connecting to Redis and for each command. |
| `ABFLASK_MAX_BATCH` | `1000` | Most events accepted in one `/track/batch` request. |
| `ABFLASK_MAX_REQUEST_BYTES` | `1048576` | Largest request body accepted; larger bodies get 413. |
| `ABFLASK_BIND` | `127.0.0.1:8000` | Address gunicorn listens on. |
| `ABFLASK_WORKERS` | `2 x CPUs + 1` | Number of gunicorn worker processes. |
| `ABFLASK_WORKER_CLASS` | `gevent` | gunicorn worker: `gevent` (a connection costs a greenlet, so slow clients cannot take the workers: use it when clients reach gunicorn directly) or `sync` (one request per process at a time: the lowest tail latency, only behind a reverse proxy that buffers whole requests). |
| `ABFLASK_LOG_LEVEL` | `info` | Log level of the service (`debug`, `info`, `warning`, `error`). |
| `ABFLASK_DATA_DIR` | `var` | Directory of the private Redis started by `make run` (socket, append-only file, log, and `redis/url` while it runs) and of the analysis job's state files. |
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from abflask.errors import ConfigError

KEY_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""Experiment and flag keys: a safe slug of 1 to 64 characters."""

PREFIX_PATTERN = re.compile(r"[a-z0-9_-]{1,16}")
"""Redis key prefixes: short, lowercase, no colon."""

LOG_LEVELS = ("debug", "info", "warning", "error")
WORKER_CLASSES = ("gevent", "sync")
"""gunicorn worker classes the deployment is tested with."""
SECRETS = frozenset(
    {
        "ABFLASK_ADMIN_TOKEN",
        "ABFLASK_SDK_KEYS",
        "ABFLASK_SECRET_KEY",
        "ABFLASK_VIEWER_TOKEN",
    }
)
"""Variables whose values never appear in error messages."""


def default_workers() -> int:
    """Gunicorn's rule of thumb for sync workers: two per CPU plus one."""
    return 2 * (os.cpu_count() or 1) + 1


DEFAULTS: dict[str, Any] = {
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ABFLASK_KEY_PREFIX": "ab",
    "ABFLASK_ADMIN_TOKEN": None,
    "ABFLASK_SDK_KEYS": None,
    "ABFLASK_SECRET_KEY": None,
    "ABFLASK_VIEWER_TOKEN": None,
    "ABFLASK_DEFAULT_EXPERIMENT": "default",
    "ABFLASK_CONFIG_TTL": 1.0,
    "ABFLASK_ASSIGNMENT_CACHE": 100_000,
    "ABFLASK_REDIS_TIMEOUT": 1.0,
    "ABFLASK_MAX_BATCH": 1000,
    "ABFLASK_MAX_REQUEST_BYTES": 1_048_576,
    "ABFLASK_BIND": "127.0.0.1:8000",
    "ABFLASK_WORKERS": None,  # default_workers(), computed when used
    "ABFLASK_WORKER_CLASS": "gevent",
    "ABFLASK_LOG_LEVEL": "info",
    "ABFLASK_DATA_DIR": "var",
}
"""Every setting with its default; app.config uses the same names."""


def _redis_url(raw: str) -> str:
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    return raw


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not pattern.fullmatch(raw):
            raise ValueError(f"must be {what}")
        return raw

    return parse


def _token(raw: str) -> str:
    if len(raw) < 16:
        raise ValueError("must be at least 16 characters")
    return raw


def _secret_key(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters")
    return raw


def _keys(raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if not keys or any(len(k) < 16 for k in keys):
        raise ValueError("must be comma-separated keys of at least 16 characters")
    return keys


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return parse


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _bind(raw: str) -> str:
    if raw.startswith("unix:"):
        if len(raw) == len("unix:"):
            raise ValueError("unix: needs a socket path")
        return raw
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT or unix:PATH")
    return raw


def _nonblank(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be blank")
    return raw


def _worker_class(raw: str) -> str:
    if raw.lower() not in WORKER_CLASSES:
        raise ValueError("must be one of " + ", ".join(WORKER_CLASSES))
    return raw.lower()


def _level(raw: str) -> str:
    if raw.lower() not in LOG_LEVELS:
        raise ValueError("must be one of " + ", ".join(LOG_LEVELS))
    return raw.lower()


PARSERS: dict[str, Callable[[str], Any]] = {
    "REDIS_URL": _redis_url,
    "ABFLASK_KEY_PREFIX": _matching(PREFIX_PATTERN, "1-16 of a-z 0-9 _ -"),
    "ABFLASK_ADMIN_TOKEN": _token,
    "ABFLASK_SDK_KEYS": _keys,
    "ABFLASK_SECRET_KEY": _secret_key,
    "ABFLASK_VIEWER_TOKEN": _token,
    "ABFLASK_DEFAULT_EXPERIMENT": _matching(KEY_PATTERN, "1-64 of A-Z a-z 0-9 _ . -"),
    "ABFLASK_CONFIG_TTL": _number(0.0, 3600.0),
    "ABFLASK_ASSIGNMENT_CACHE": _integer(0, 10_000_000),
    "ABFLASK_REDIS_TIMEOUT": _number(0.01, 60.0),
    "ABFLASK_MAX_BATCH": _integer(1, 100_000),
    "ABFLASK_MAX_REQUEST_BYTES": _integer(1024, 1 << 30),
    "ABFLASK_BIND": _bind,
    "ABFLASK_WORKERS": _integer(1, 256),
    "ABFLASK_WORKER_CLASS": _worker_class,
    "ABFLASK_LOG_LEVEL": _level,
    "ABFLASK_DATA_DIR": _nonblank,
}


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Parse the settings present in ``environ``; absent ones are left out.

    Every malformed value is reported at once, in one ``ConfigError`` that
    names each bad variable, so an operator fixes them in one go.
    """
    parsed: dict[str, Any] = {}
    problems: list[str] = []
    for name, parse in PARSERS.items():
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            parsed[name] = parse(raw.strip())
        except ValueError as exc:
            shown = "(hidden)" if name in SECRETS else repr(raw)
            problems.append(f"{name}={shown}: {exc}")
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return parsed


def load(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults overlaid with the environment (``os.environ`` by default)."""
    settings = dict(DEFAULTS)
    settings.update(from_env(os.environ if environ is None else environ))  # noqa: TID251
    if settings["ABFLASK_WORKERS"] is None:
        settings["ABFLASK_WORKERS"] = default_workers()
    return settings


def child_environment(**overrides: str) -> dict[str, str]:
    """A copy of this process's environment with ``overrides``, for a child process.

    The child reads its own settings through this module again; this selects
    none of them.
    """
    return {**os.environ, **overrides}  # noqa: TID251


def redis_url_is_set(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the operator named a Redis (else the run command starts one)."""
    return "REDIS_URL" in from_env(os.environ if environ is None else environ)  # noqa: TID251
