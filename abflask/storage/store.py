"""The Store: every read and write of abflask's data, as Lua scripts and commands.

Key names come from ``keys`` and scripts from ``lua/``; nothing else in
abflask talks to Redis. Each hot path is one script call (one round trip),
and every Redis failure becomes ``StorageUnavailable``. Definitions
(experiments, flags, segments) are ``definitions.DefinitionStore``'s.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from abflask.core import records
from abflask.core.experiment import Experiment
from abflask.core.outcomes import Enrollment
from abflask.core.records import fingerprint
from abflask.storage.counters import (
    LiveCounts,
    Snapshot,
    base_second,
    counting_rule,
    current_phase,
    decode_counters,
    decode_live,
    decode_snapshots,
    lead_event,
    phase_starts,
    phase_token,
)
from abflask.storage.definitions import DefinitionStore
from abflask.storage.keys import bucket
from abflask.storage.packing import PackedEvent

logger = logging.getLogger(__name__)

MAX_EVENT_KEYS = 65535
"""Distinct event keys one experiment records (event ids are 16 bits)."""
MAX_UNDECLARED_KEYS = 1000
"""Distinct event keys outside an experiment's metrics that it records: the
rest of its event ids are kept for its metrics, whatever clients send."""


class Store(DefinitionStore):
    """All reads and writes of abflask's data in one Redis.

    Methods that talk to Redis say so in their docstring and raise
    ``StorageUnavailable`` for any Redis failure. Nothing connects until the
    first command, so a Store may be built before gunicorn forks.
    """

    # -- the hot paths -------------------------------------------------------

    def enroll(
        self, exp: Experiment, user_id: str, candidate: int, now: float
    ) -> tuple[Enrollment, int]:
        """Return the user's sticky variation, enrolling them if new (one script).

        Returns ``(status, variation)``; status ``Enrollment.STALE`` means
        ``exp`` is older than Redis' copy: reload and call again (nothing was
        written).
        """
        keys, args = self._enroll_call(exp, user_id, candidate, now)
        status, variation = self._script("enroll", keys, args)
        return Enrollment(int(status)), int(variation)

    def _enroll_call(
        self, exp: Experiment, user_id: str, candidate: int, now: float
    ) -> tuple[list[str], list[Any]]:
        fp = fingerprint(user_id)
        x = self.keys.experiment
        keys = [
            x(exp.key, "cfg"),
            x(exp.key, f"a:{bucket(fp)}"),
            x(exp.key, "c"),
            x(exp.key, "log"),
            x(exp.key, "ev"),
            x(exp.key, "ts"),
        ]
        head = records.encode_head(records.EXPOSURE, now, fp)
        second = int(now)  # the record's time
        args = [
            exp.version,
            fp[2:],
            candidate,
            exp.max_participants or 0,
            head,
            phase_token(exp, second),
            second - base_second(exp),
            *self._series_args(exp, now),
        ]
        return keys, args

    @staticmethod
    def _series_args(exp: Experiment, now: float) -> list[Any]:
        """The snapshot arguments both hot scripts end their header with."""
        return [
            int(now) // 60,
            current_phase(exp),
            len(exp.variations),
            lead_event(exp),
        ]

    def enroll_many(
        self, items: Sequence[tuple[Experiment, str, int]], now: float
    ) -> list[tuple[Enrollment, int]]:
        """``enroll`` for each ``(experiment, user_id, candidate)``, in one round trip.

        One pipelined enroll.lua call per item, run in order: each is atomic
        on its own, exactly as ``enroll`` (so a user twice in ``items`` is
        enrolled by the first and sticky in the second).
        """
        calls = [self._enroll_call(exp, user, cand, now) for exp, user, cand in items]
        replies = self._call(self._pipeline_scripts, "enroll", calls)
        return [(Enrollment(int(s)), int(v)) for s, v in replies]

    def _track_call(
        self, exp: Experiment, events: Sequence[PackedEvent], now: float
    ) -> tuple[list[str], list[Any]]:
        x = self.keys.experiment
        keys = [
            x(exp.key, "cfg"),
            x(exp.key, "c"),
            x(exp.key, "log"),
            x(exp.key, "ev"),
            x(exp.key, "ts"),
        ]
        args: list[Any] = [
            exp.version,
            MAX_EVENT_KEYS,
            MAX_UNDECLARED_KEYS,
            " ".join(exp.metric_keys),
            " ".join(counting_rule(m) for m in exp.metrics),
            phase_starts(exp),
            base_second(exp),
            *self._series_args(exp, now),
        ]
        for e in events:
            keys += (
                x(exp.key, f"a:{e.bucket}"),
                x(exp.key, f"u:{e.bucket}"),
                x(exp.key, f"d:{e.dedup_bucket}"),
            )
            args += (e.user_field, e.dedup_field, e.event, e.head, e.value, e.tail)
        return keys, args

    def track(
        self,
        experiments: Sequence[Experiment],
        events: Sequence[PackedEvent],
        now: float | None = None,
    ) -> dict[str, str | None]:
        """Record ``events`` in every experiment given, in one pipelined round trip.

        Each experiment's part is one atomic script. Returns, per experiment
        key, one status character per event (see track.lua), or None when the
        definition was stale and nothing was written there. ``now`` (default:
        the clock) only dates the counters' snapshots.
        """
        at = time.time() if now is None else now
        calls = [self._track_call(exp, events, at) for exp in experiments]
        results = self._call(self._pipeline_scripts, "track", calls)
        out: dict[str, str | None] = {}
        for exp, res in zip(experiments, results, strict=True):
            out[exp.key] = None if isinstance(res, int) else res.decode()
        return out

    # -- analysis ------------------------------------------------------------

    def acquire_lock(self, name: str, token: str, ttl: int) -> bool:
        """Take lock ``name`` for ``ttl`` seconds unless another holder has it."""
        key = self.keys.lock(name)
        return bool(self._call(self._r.set, key, token, ex=ttl, nx=True))

    def renew_lock(self, name: str, token: str, ttl: int) -> bool:
        """Extend lock ``name`` to ``ttl`` seconds if ``token`` still holds it.

        False if it expired or another holder took it; a lost lock is never
        re-taken here (renew.lua: the check and the extension are atomic).
        """
        key = self.keys.lock(name)
        return bool(self._script("renew", [key], [token, int(ttl * 1000)]))

    def release_lock(self, name: str, token: str) -> bool:
        """Release lock ``name`` if ``token`` still holds it (unlock.lua)."""
        return bool(self._script("unlock", [self.keys.lock(name)], [token]))

    def bookmark(self, experiment: str) -> tuple[int, str]:
        """Where the last analysis stopped: (log position, state id); (0, "")."""
        pos, state = self._call(
            self._r.hmget, self.keys.experiment(experiment, "an"), ["pos", "state"]
        )
        return (int(pos), state.decode()) if pos is not None else (0, "")

    def save_results(
        self,
        experiment: str,
        results: Mapping[str, object],
        pos: int,
        state: str,
        at: float,
    ) -> None:
        """Store the latest results and the new bookmark together (one round trip)."""
        pipe = self._r.pipeline(transaction=True)  # one slot: {experiment}
        pipe.set(self.keys.experiment(experiment, "res"), json.dumps(results))
        pipe.hset(
            self.keys.experiment(experiment, "an"),
            mapping={"pos": pos, "state": state, "at": at},
        )
        self._call(pipe.execute)

    def results(self, experiment: str) -> dict[str, Any] | None:
        """The latest stored analysis results of an experiment, if any."""
        raw = self._call(self._r.get, self.keys.experiment(experiment, "res"))
        return None if raw is None else dict(json.loads(raw))

    # -- reading -------------------------------------------------------------

    def counters(self, exp: Experiment) -> dict[str, Any]:
        """Live counts of an experiment by variation and event key (one round trip)."""
        pipe = self._r.pipeline(transaction=False)
        pipe.hgetall(self.keys.experiment(exp.key, "c"))
        pipe.hgetall(self.keys.experiment(exp.key, "ev"))
        raw, ids = self._call(pipe.execute)
        names = {k: v for k, v in ids.items() if not k.startswith(b"#")}
        return decode_counters(exp.variations, raw, names)

    def live(
        self, exp: Experiment, *, series: bool = True
    ) -> tuple[LiveCounts, list[Snapshot], dict[str, Any] | None]:
        """The live counters, their snapshots (none unless ``series``) and the
        last stored analysis results of an experiment (one round trip)."""
        x = self.keys.experiment
        pipe = self._r.pipeline(transaction=False)
        pipe.hgetall(x(exp.key, "c"))
        pipe.hgetall(x(exp.key, "ev"))
        pipe.get(x(exp.key, "res"))
        if series:
            pipe.lrange(x(exp.key, "ts"), 0, -1)
        raw, ids, results, *snapshots = self._call(pipe.execute)
        k = len(exp.variations)
        return (
            decode_live(k, raw, ids),
            decode_snapshots(snapshots[0] if snapshots else [], k),
            None if results is None else dict(json.loads(results)),
        )

    def append_log(self, experiment: str, records: Sequence[bytes]) -> None:
        """Append pre-built records to an experiment's log (bulk import, benchmarks).

        Bypasses the scripts: no counters or assignments change. Pipelined in
        batches of 10,000 records.
        """
        key = self.keys.experiment(experiment, "log")
        pipe = self._r.pipeline(transaction=False)
        for i in range(0, len(records), 10_000):
            pipe.rpush(key, *records[i : i + 10_000])
            if len(pipe) >= 20:
                self._call(pipe.execute)
        self._call(pipe.execute)

    def log_length(self, experiment: str) -> int:
        """Number of records in an experiment's event log (one round trip)."""
        return int(self._call(self._r.llen, self.keys.experiment(experiment, "log")))

    def read_log(self, experiment: str, start: int, count: int) -> list[bytes]:
        """Up to ``count`` raw records from position ``start`` (one round trip)."""
        key = self.keys.experiment(experiment, "log")
        return list(self._call(self._r.lrange, key, start, start + count - 1))

    def event_names(self, experiment: str) -> dict[int, str]:
        """Event id → event key for an experiment's log records."""
        raw = self._call(self._r.hgetall, self.keys.experiment(experiment, "ev"))
        return {int(v): k.decode() for k, v in raw.items() if not k.startswith(b"#")}
