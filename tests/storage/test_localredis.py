"""The private Redis of the run command: its recorded URL and how commands find it."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from abflask import config
from abflask.storage import localredis
from abflask.storage.localredis import LocalRedis

SEE_URL = """
import json, os, pathlib, sys
recorded = pathlib.Path(sys.argv[1]).read_text()
seen = {"recorded": recorded.strip(), "env": os.environ["REDIS_URL"]}
pathlib.Path(sys.argv[2]).write_text(json.dumps(seen))
sys.exit(int(sys.argv[3]))
"""
"""The command ``run`` runs: notes the URL file and its REDIS_URL, exits as told."""


@pytest.fixture
def no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of a developer's first ``make run``: no REDIS_URL."""
    monkeypatch.delenv("REDIS_URL", raising=False)


@pytest.mark.slow
@pytest.mark.parametrize("status", [0, 3])
def test_run_records_the_url_while_the_command_runs(
    no_redis_url: None, tmp_path: Path, status: int
) -> None:
    url_file = localredis.recorded_url_path(tmp_path)
    seen = tmp_path / "seen.json"
    command = [sys.executable, "-c", SEE_URL, str(url_file), str(seen), str(status)]
    assert localredis.run(command, tmp_path) == status
    found = json.loads(seen.read_text())
    assert found["recorded"] == found["env"] == f"unix://{tmp_path}/redis/redis.sock"
    assert not url_file.exists()
    assert not (tmp_path / "redis" / "redis.sock").exists()


@pytest.mark.slow
def test_run_restores_the_signal_handlers(no_redis_url: None, tmp_path: Path) -> None:
    before = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    assert localredis.run([sys.executable, "-c", "pass"], tmp_path) == 0
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == before


def resolve(environ: dict[str, str]) -> str:
    """What a command started with ``environ`` uses."""
    settings = config.load(environ)
    return localredis.resolve_url(settings, config.redis_url_is_set(environ))


def test_resolve_prefers_the_configured_url(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    localredis.record_url(tmp_path, redis_server.url)
    environ = {
        "REDIS_URL": "redis://redis.internal:6380/2",
        "ABFLASK_DATA_DIR": str(tmp_path),
    }
    assert resolve(environ) == "redis://redis.internal:6380/2"


def test_resolve_finds_the_recorded_url(
    redis_server: LocalRedis, tmp_path: Path
) -> None:
    localredis.record_url(tmp_path, redis_server.url)
    assert resolve({"ABFLASK_DATA_DIR": str(tmp_path)}) == redis_server.url


@pytest.mark.parametrize("recorded", [None, "unix:///no/such/redis.sock"])
def test_resolve_falls_back_to_the_default(
    tmp_path: Path, recorded: str | None
) -> None:
    if recorded is not None:  # a file left by a run that was killed
        localredis.record_url(tmp_path, recorded)
    assert resolve({"ABFLASK_DATA_DIR": str(tmp_path)}) == config.DEFAULTS["REDIS_URL"]
