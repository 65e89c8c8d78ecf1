"""One Redis client, its Lua scripts and its breaker: what every Store method runs on.

Loads the scripts of ``lua/`` once, runs them by SHA (reloading them after a
restart or SCRIPT FLUSH), pipelines many calls of one script, and turns every
Redis failure into ``StorageUnavailable``, failing fast for a moment after
Redis was found unreachable.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, Self

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from abflask.errors import StorageUnavailable
from abflask.storage.keys import Keys

SCRIPTS = ("save", "delete", "enroll", "track", "unlock", "renew")
"""The scripts of ``lua/``, each named after the Store method that runs it."""
INCLUDE = "--#include "
"""A script line that stands for a file of ``lua/include/``."""
BREAKER_SECONDS = 0.5
"""Seconds calls fail fast after Redis was found unreachable."""


def script_source(name: str) -> str:
    """The text of script ``name``, each ``--#include <part>`` line replaced by
    ``lua/include/<part>.lua`` (code several scripts share)."""
    lua = resources.files("abflask.storage") / "lua"
    lines = (lua / f"{name}.lua").read_text().splitlines(keepends=True)
    return "".join(
        (lua / "include" / f"{line.split()[1]}.lua").read_text()
        if line.startswith(INCLUDE)
        else line
        for line in lines
    )


class ScriptedRedis:
    """A pooled client with abflask's scripts loaded, under one key prefix."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "ab",
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._r = client
        self.prefix = prefix
        self.keys = Keys(prefix)
        self._clock = clock
        self._down_until = 0.0
        self._source = {name: script_source(name) for name in SCRIPTS}
        self._sha = {
            name: hashlib.sha1(src.encode()).hexdigest()
            for name, src in self._source.items()
        }

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "ab", timeout: float = 1.0) -> Self:
        """One over a pooled client for ``url``; does not connect yet."""
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One immediate retry on a broken pooled connection (e.g. after a
            # Redis restart); never on a timeout, where the command may have
            # run and a retry could apply it twice.
            retry=Retry(NoBackoff(), 1, (redis.ConnectionError,)),
        )
        return cls(client, prefix)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one Redis operation; every failure becomes StorageUnavailable.

        After a connection failure or timeout, calls fail fast for
        ``BREAKER_SECONDS`` instead of each waiting out its own timeout: a
        Redis that vanished must not tie up every worker (a successful
        ``ping`` closes the breaker early).
        """
        if self._clock() < self._down_until:
            raise StorageUnavailable("Redis was unreachable a moment ago")
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._down_until = self._clock() + BREAKER_SECONDS
            raise StorageUnavailable(f"Redis unreachable: {exc}", exc) from exc
        except RedisError as exc:
            raise StorageUnavailable(f"Redis failed: {exc}", exc) from exc

    def _evalsha(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return self._r.evalsha(self._sha[name], len(keys), *keys, *args)
        except NoScriptError:  # first use, or after a restart or SCRIPT FLUSH
            self._load_scripts()
            return self._r.evalsha(self._sha[name], len(keys), *keys, *args)

    def _script(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return self._call(self._evalsha, name, keys, args)

    def _load_scripts(self) -> None:
        for src in self._source.values():
            self._r.script_load(src)

    def reset_connections(self) -> None:
        """Drop pooled connections without closing them (after a fork)."""
        self._r.connection_pool.reset()

    def ping(self) -> bool:
        """Whether Redis answers PING (one round trip, even while the breaker
        is open; an answer closes it)."""
        try:
            answered = bool(self._r.ping())
        except RedisError:
            return False
        self._down_until = 0.0
        return answered

    def _pipeline_scripts(
        self, name: str, calls: Sequence[tuple[list[str], list[Any]]]
    ) -> list[Any]:
        """Run script ``name`` once per call in one pipeline; raise the first error.

        After NOSCRIPT (a restarted Redis) the calls that did not run are sent
        again, together, once the scripts are loaded.
        """
        if len(calls) == 1:  # no pipeline: saves its bookkeeping
            keys, args = calls[0]
            return [self._evalsha(name, keys, args)]
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            pipe = self._r.pipeline(transaction=False)
            for i in todo:
                keys, args = calls[i]
                pipe.evalsha(self._sha[name], len(keys), *keys, *args)
            replies = pipe.execute(raise_on_error=False)
            missing = []
            for i, reply in zip(todo, replies, strict=True):
                if isinstance(reply, NoScriptError) and attempt == 0:
                    missing.append(i)
                elif isinstance(reply, Exception):
                    raise reply
                else:
                    results[i] = reply
            if not missing:
                break
            self._load_scripts()  # a NOSCRIPT call did not run: safe to send again
            todo = missing
        return results
