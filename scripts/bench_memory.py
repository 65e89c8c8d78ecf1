"""Redis memory per enrolled participant and per stored event.

Starts a private redis-server (as the tests do), enrolls N uuid-like users in
one experiment through the real Lua scripts, then records events, and prints
the growth of Redis' ``used_memory`` per item. Not run by pytest.

    python scripts/bench_memory.py [--participants N] [--events-per-user K]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from abflask.core.event import Event
from abflask.core.experiment import Experiment
from abflask.storage import localredis
from abflask.storage.packing import pack_event
from abflask.storage.store import Store

TARGET_PARTICIPANT = 24
"""Bytes per enrolled participant the spec allows."""
TARGET_EVENT = 48
"""Bytes per stored event (no properties) the spec allows."""


def used(store_client: object) -> int:
    return int(store_client.info("memory")["used_memory"])  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200_000)
    parser.add_argument("--events-per-user", type=int, default=2)
    args = parser.parse_args(argv)
    n, k = args.participants, args.events_per_user
    with tempfile.TemporaryDirectory() as tmp:
        server = localredis.start(Path(tmp), persistent=False)
        try:
            raw = server.client()
            store = Store.from_url(server.url)
            now = time.time()
            exp = store.create_experiment(
                Experiment(key="bench", variations=("control", "treatment")).start(now)
            )
            users = [str(uuid.uuid4()) for _ in range(n)]
            base = used(raw)
            started = time.perf_counter()
            spread = 30 * 86_400 / n  # exposures over 30 days, as stored
            for i, user in enumerate(users):
                store.enroll(exp, user, i % 2, now + i * spread)
            enroll_s = time.perf_counter() - started
            after_enroll = used(raw)
            exposures = int(raw.memory_usage("ab:x:{bench}:log", samples=0))
            batch: list[Event] = []
            for round_ in range(k):
                for user in users:
                    batch.append(
                        Event(
                            user,
                            "purchase",
                            now + 31 * 86_400,
                            9.99 if round_ else None,
                        )
                    )
                    if len(batch) == 1000:
                        store.track([exp], [pack_event(e) for e in batch])
                        batch = []
            if batch:
                store.track([exp], [pack_event(e) for e in batch])
            after_events = used(raw)
            buckets = raw.keys("ab:x:{bench}:a:*")
            encodings = {raw.object("encoding", b) for b in buckets[:50]}
        finally:
            server.stop()
    per_participant = (after_enroll - base) / n
    per_event = (after_events - after_enroll) / (n * k)
    print(f"participants: {n:,} (enrolled in {enroll_s:.1f} s, one script each)")
    print(f"events:       {n * k:,} ({k} per user, half with a value)")
    print(f"bucket encoding: {sorted(e.decode() for e in encodings)}")
    ratio = per_participant / TARGET_PARTICIPANT
    print(
        f"bytes per participant: {per_participant:6.1f}  "
        f"(target <= {TARGET_PARTICIPANT}: ratio {ratio:.2f})"
    )
    print(
        f"  of which exposure records in the event log: {exposures / n:.1f}, "
        f"assignment state: {per_participant - exposures / n:.1f}"
    )
    print(
        f"bytes per event:       {per_event:6.1f}  "
        f"(target <= {TARGET_EVENT}: ratio {per_event / TARGET_EVENT:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
