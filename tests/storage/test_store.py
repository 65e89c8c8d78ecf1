"""The Redis store and its Lua scripts, against the real server."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import redis as redis_py
from redis.backoff import NoBackoff
from redis.retry import Retry

from abflask.core import records
from abflask.core.event import Event
from abflask.core.experiment import Experiment
from abflask.core.flag import Flag
from abflask.core.outcomes import Enrollment
from abflask.core.records import Record, decode_record, fingerprint
from abflask.core.segment import Segment
from abflask.errors import ConflictError, NotFoundError, StorageUnavailable
from abflask.storage import connection
from abflask.storage import keys as storage_keys
from abflask.storage import store as st
from abflask.storage.localredis import LocalRedis
from abflask.storage.packing import PackedEvent, pack_event
from abflask.storage.store import Store
from tests.helpers import snapshot

NOW = 1_790_000_000.0


@pytest.fixture
def store(redis_server: LocalRedis, redis: redis_py.Redis) -> Store:
    return Store.from_url(redis_server.url, prefix="t")


def running(store: Store, **fields: object) -> Experiment:
    exp = Experiment(key="exp", variations=("a", "b"), status="running", **fields)  # type: ignore[arg-type]
    return store.create_experiment(exp)


def test_create_then_get_round_trips(store: Store) -> None:
    created = running(store, weights=(0.3, 0.7), max_participants=5)
    assert created.version == 1
    assert store.get_experiment("exp") == created


def test_create_twice_conflicts(store: Store) -> None:
    running(store)
    with pytest.raises(ConflictError):
        running(store)


def test_save_with_old_version_conflicts(store: Store) -> None:
    first = running(store)
    store.save_experiment(first.stop(NOW))
    with pytest.raises(ConflictError):
        store.save_experiment(first.stop(NOW))


def test_save_of_deleted_experiment_is_not_found(store: Store) -> None:
    exp = running(store)
    store.delete_experiment("exp")
    with pytest.raises(NotFoundError):
        store.save_experiment(exp)


def test_failed_create_writes_nothing(store: Store, redis: redis_py.Redis) -> None:
    """Create was two calls: a failure after the first left an unlisted experiment."""
    redis.set("t:exps", "not a set")  # the registry write fails for real
    with pytest.raises(StorageUnavailable):
        store.create_experiment(Experiment(key="half", variations=("a", "b")))
    redis.delete("t:exps")
    assert redis.keys("*") == []
    created = store.create_experiment(Experiment(key="half", variations=("a", "b")))
    assert store.load_experiments() == {"half": created}


def test_failed_flag_create_writes_nothing(store: Store, redis: redis_py.Redis) -> None:
    redis.set("t:flags", "not a set")
    with pytest.raises(StorageUnavailable):
        store.create_flag(Flag(key="nav", enabled=True))
    assert redis.keys("*") == [b"t:flags"]


def test_save_lists_a_definition_a_crash_left_unlisted(
    store: Store, redis: redis_py.Redis
) -> None:
    exp = running(store)
    redis.srem("t:exps", "exp")  # as an old two-call create could leave it
    saved = store.save_experiment(exp)
    assert store.load_experiments() == {"exp": saved}


def in_namespace(key: str, start: float, end: float, ns: str = "ns") -> Experiment:
    return Experiment(key=key, variations=("a", "b"), namespace=(ns, start, end))


def test_overlapping_namespace_create_conflicts_and_writes_nothing(
    store: Store, redis: redis_py.Redis
) -> None:
    store.create_experiment(in_namespace("one", 0.0, 0.5))
    before = snapshot(redis)
    with pytest.raises(ConflictError, match=r"overlaps experiment 'one' \[0.0, 0.5\)"):
        store.create_experiment(in_namespace("two", 0.4, 1.0))
    assert snapshot(redis) == before
    store.create_experiment(in_namespace("two", 0.5, 1.0))  # touching is fine
    store.create_experiment(in_namespace("other", 0.0, 1.0, ns="elsewhere"))
    store.create_experiment(Experiment(key="free", variations=("a", "b")))


def test_save_checks_and_moves_the_namespace_claim(store: Store) -> None:
    one = store.create_experiment(in_namespace("one", 0.0, 0.5))
    two = store.create_experiment(in_namespace("two", 0.5, 1.0))
    with pytest.raises(ConflictError, match="overlaps experiment 'two'"):
        store.save_experiment(replace(one, namespace=("ns", 0.0, 0.6)))
    one = store.save_experiment(replace(one, namespace=("ns", 0.0, 0.25)))
    store.save_experiment(replace(two, namespace=("ns", 0.25, 1.0)))  # freed
    store.save_experiment(replace(one, namespace=None))
    store.create_experiment(in_namespace("three", 0.0, 0.25))


def test_delete_frees_the_namespace_range(store: Store, redis: redis_py.Redis) -> None:
    store.create_experiment(in_namespace("one", 0.0, 0.5))
    assert store.delete_experiment("one") is True
    assert redis.keys("*") == []
    store.create_experiment(in_namespace("two", 0.0, 1.0))


def test_concurrent_overlapping_creates_exactly_one_wins(
    redis_server: LocalRedis, redis: redis_py.Redis
) -> None:
    """Each thread has its own Store (connection pool), as workers do."""
    threads = 16
    barrier = threading.Barrier(threads)

    def create(i: int) -> bool:
        store = Store.from_url(redis_server.url, prefix="t")
        barrier.wait()
        try:
            store.create_experiment(in_namespace(f"e{i}", i / 100, 0.5 + i / 100))
        except ConflictError:
            return False
        return True

    for _ in range(5):
        redis.flushall()
        with ThreadPoolExecutor(threads) as pool:
            won = list(pool.map(create, range(threads)))
        assert sum(won) == 1
        assert len(redis.hgetall("t:ns")) == redis.scard("t:exps") == 1


def test_every_key_of_an_experiment_shares_its_hash_tag(
    store: Store, redis: redis_py.Redis
) -> None:
    exp = running(store)
    store.enroll(exp, "u1", 0, NOW)
    store.track([exp], [pack_event(Event("u1", "buy", NOW, 2.0, None, "e1"))])
    keys = [k.decode() for k in redis.keys("t:x:*")]
    assert len(keys) >= 7
    assert all(k.startswith("t:x:{exp}:") for k in keys)
    assert set(redis.keys("*")) - {k.encode() for k in keys} == {b"t:exps"}


def test_prefix_separates_deployments(
    redis_server: LocalRedis, redis: redis_py.Redis
) -> None:
    one = Store.from_url(redis_server.url, prefix="one")
    two = Store.from_url(redis_server.url, prefix="two")
    one.create_experiment(Experiment(key="exp", variations=("a", "b")))
    assert two.get_experiment("exp") is None
    assert all(k.startswith(b"one:") for k in redis.keys("*"))


def test_enroll_stores_then_is_sticky(store: Store) -> None:
    exp = running(store)
    assert store.enroll(exp, "u1", 1, NOW) == (Enrollment.ENROLLED, 1)
    # A later call with another candidate (weights changed) keeps variation 1.
    assert store.enroll(exp, "u1", 0, NOW) == (Enrollment.STICKY, 1)


def test_enroll_writes_counters_and_one_exposure(store: Store) -> None:
    exp = running(store)
    store.enroll(exp, "u1", 1, NOW)
    store.enroll(exp, "u1", 1, NOW)
    assert store.counters(exp)["variations"][1]["participants"] == 1
    records = [decode_record(r) for r in store.read_log("exp", 0, 10)]
    assert records == [
        Record(variation=1, exposure=True, timestamp=int(NOW), user=fingerprint("u1"))
    ]


def test_enroll_with_stale_version_writes_nothing(
    store: Store, redis: redis_py.Redis
) -> None:
    exp = running(store)
    store.save_experiment(exp)  # version 2 in Redis; exp still says 1
    before = redis.dbsize()
    assert store.enroll(exp, "u1", 0, NOW) == (Enrollment.STALE, -1)
    assert redis.dbsize() == before


def test_enroll_excluded_candidate_writes_nothing(
    store: Store, redis: redis_py.Redis
) -> None:
    exp = running(store)
    before = redis.dbsize()
    assert store.enroll(exp, "u1", -1, NOW) == (Enrollment.EXCLUDED, -1)
    assert redis.dbsize() == before


def test_enroll_stops_at_cap(store: Store) -> None:
    exp = running(store, max_participants=2)
    results = [store.enroll(exp, f"u{i}", 0, NOW)[0] for i in range(4)]
    assert results == [
        Enrollment.ENROLLED,
        Enrollment.ENROLLED,
        Enrollment.FULL,
        Enrollment.FULL,
    ]
    assert store.enroll(exp, "u0", 0, NOW) == (Enrollment.STICKY, 0)


def test_assignments_are_compact_hashes(store: Store, redis: redis_py.Redis) -> None:
    exp = running(store)
    for i in range(3000):
        store.enroll(exp, f"user-{i}", i % 2, NOW)
    buckets = redis.keys("t:x:{exp}:a:*")
    assert len(buckets) < 3000  # grouped, not a key per user
    encodings = {redis.object("encoding", k) for k in buckets}
    assert encodings <= {b"ziplist", b"listpack"}


def event(
    user: str,
    name: str = "buy",
    value: float | None = None,
    event_id: str | None = None,
    **props: object,
) -> PackedEvent:
    return pack_event(Event(user, name, NOW, value, props or None, event_id))


def test_track_records_only_enrolled_users(store: Store) -> None:
    exp = running(store)
    store.enroll(exp, "in", 1, NOW)
    codes = store.track([exp], [event("in", value=3.5), event("out")])
    assert codes == {"exp": "10"}
    records = [decode_record(r) for r in store.read_log("exp", 0, 10)]
    assert [(r.exposure, r.variation, r.value) for r in records] == [
        (True, 1, None),
        (False, 1, 3.5),
    ]
    assert store.event_names("exp") == {records[1].event_id: "buy"}


def test_track_counters_use_per_user_totals(store: Store) -> None:
    exp = running(store)
    store.enroll(exp, "u1", 0, NOW)
    store.enroll(exp, "u2", 0, NOW)
    batch = [
        event("u1", value=2.0),
        event("u1", value=3.0),
        event("u2", value=4.0),
        event("u2"),
    ]
    store.track([exp], batch)
    cell = store.counters(exp)["variations"][0]["events"]["buy"]
    # users 2, events 4, sum 9; per-user totals 5 and 4 → squares 25 + 16.
    assert cell == {"users": 2, "count": 4, "sum": 9.0, "sum_squares": 41.0}


def test_track_duplicate_event_id_is_stored_once(store: Store) -> None:
    exp = running(store)
    store.enroll(exp, "u1", 0, NOW)
    first = store.track([exp], [event("u1", event_id="e1"), event("u1", event_id="e1")])
    again = store.track([exp], [event("u1", event_id="e1")])
    assert (first, again) == ({"exp": "12"}, {"exp": "2"})
    assert store.log_length("exp") == 2  # the exposure and one event


def test_track_with_stale_version_writes_nothing(
    store: Store, redis: redis_py.Redis
) -> None:
    exp = running(store)
    store.enroll(exp, "u1", 0, NOW)
    store.save_experiment(exp)
    before = redis.dbsize(), store.log_length("exp")
    assert store.track([exp], [event("u1")]) == {"exp": None}
    assert (redis.dbsize(), store.log_length("exp")) == before


def test_track_covers_several_experiments(store: Store) -> None:
    one = running(store)
    two = store.create_experiment(
        Experiment(key="two", variations=("a", "b"), status="running")
    )
    store.enroll(one, "u1", 0, NOW)
    store.enroll(two, "u1", 1, NOW)
    assert store.track([one, two], [event("u1")]) == {"exp": "1", "two": "1"}


def test_undeclared_event_keys_are_bounded_apart_from_the_metrics(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(st, "MAX_UNDECLARED_KEYS", 3)
    exp = running(store, metrics=("buy", "view"))
    store.enroll(exp, "u1", 0, NOW)
    junk = [event("u1", f"junk{i}") for i in range(5)]
    assert store.track([exp], junk) == {"exp": "11133"}
    assert store.track([exp], [event("u1", "buy"), event("u1", "view")]) == {
        "exp": "11"
    }
    assert store.track([exp], [event("u1", "junk0"), event("u1", "junk4")]) == {
        "exp": "13"
    }
    assert sorted(store.event_names("exp").values()) == [
        "buy",
        "junk0",
        "junk1",
        "junk2",
        "view",
    ]
    cells = store.counters(exp)["variations"][0]["events"]
    assert {name: cell["count"] for name, cell in cells.items()} == {
        "junk0": 2,
        "junk1": 1,
        "junk2": 1,
        "buy": 1,
        "view": 1,
    }


def test_without_metrics_every_key_counts_as_undeclared(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(st, "MAX_UNDECLARED_KEYS", 2)
    exp = running(store)
    store.enroll(exp, "u1", 0, NOW)
    assert store.track([exp], [event("u1", n) for n in "abc"]) == {"exp": "113"}


def test_a_metric_declared_later_gets_an_id(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(st, "MAX_UNDECLARED_KEYS", 1)
    exp = running(store)
    store.enroll(exp, "u1", 0, NOW)
    assert store.track([exp], [event("u1", "a"), event("u1", "buy")]) == {"exp": "13"}
    exp = store.save_experiment(replace(exp, metrics=("buy",)))
    assert store.track([exp], [event("u1", "buy")]) == {"exp": "1"}


def test_record_keeps_properties(store: Store) -> None:
    exp = running(store)
    store.enroll(exp, "u1", 0, NOW)
    store.track([exp], [event("u1", value=-1.25, plan="pro", seats=3)])
    record = decode_record(store.read_log("exp", 1, 1)[0])
    assert (record.value, record.properties) == (-1.25, {"plan": "pro", "seats": 3})


def test_stored_records_are_small_and_laid_out_as_records_says(
    store: Store,
) -> None:
    exp = running(store)
    store.enroll(exp, "u1", 1, NOW)
    store.track([exp], [event("u1"), event("u1", value=2.5)])
    exposure, plain, valued = store.read_log("exp", 0, 3)
    assert [len(r) for r in (exposure, plain, valued)] == [
        records.EXPOSURE_SIZE,
        records.EVENT_SIZE,
        records.VALUED_EVENT_SIZE,
    ]
    assert (records.EXPOSURE_SIZE, records.EVENT_SIZE) == (14, 16)
    assert records.VALUED_EVENT_SIZE == 24
    fp = fingerprint("u1")
    [event_id] = store.event_names("exp")
    assert exposure == records.encode_record(1, NOW, fp)
    assert plain == records.encode_record(1, NOW, fp, event_id=event_id)
    assert valued == records.encode_record(1, NOW, fp, event_id=event_id, value=2.5)


def test_delete_removes_every_key(store: Store, redis: redis_py.Redis) -> None:
    exp = running(store)
    store.enroll(exp, "u1", 0, NOW)
    store.track([exp], [event("u1", value=1.0, event_id="x")])
    assert store.delete_experiment("exp") is True
    assert redis.keys("*") == []
    assert store.delete_experiment("exp") is False


def test_flags_round_trip(store: Store) -> None:
    created = store.create_flag(Flag(key="nav", enabled=True, rollout=0.5))
    assert store.load_flags() == {"nav": created}
    saved = store.save_flag(Flag(key="nav", enabled=False, version=created.version))
    assert store.load_flags()["nav"] == saved
    assert store.delete_flag("nav") is True
    assert store.load_flags() == {}


def test_renew_extends_only_the_holders_lock(
    store: Store, redis: redis_py.Redis
) -> None:
    assert store.acquire_lock("job", "mine", 5)
    assert store.renew_lock("job", "theirs", 100) is False
    assert redis.pttl("t:lock:job") <= 5000
    assert store.renew_lock("job", "mine", 100) is True
    assert 5000 < redis.pttl("t:lock:job") <= 100_000


def test_renew_never_retakes_a_lost_lock(store: Store, redis: redis_py.Redis) -> None:
    assert store.acquire_lock("job", "mine", 5)
    redis.delete("t:lock:job")  # expired
    assert store.renew_lock("job", "mine", 100) is False
    assert redis.exists("t:lock:job") == 0


def test_scripts_reload_after_script_flush(store: Store, redis: redis_py.Redis) -> None:
    exp = running(store)
    redis.script_flush()
    assert store.enroll(exp, "u1", 0, NOW) == (Enrollment.ENROLLED, 0)
    redis.script_flush()
    two = store.create_experiment(
        Experiment(key="two", variations=("a", "b"), status="running")
    )
    assert store.track([exp, two], [event("u1")]) == {"exp": "1", "two": "0"}


def test_unreachable_redis_raises_storage_unavailable(tmp_path: object) -> None:
    dead = Store.from_url("unix:///nonexistent/redis.sock", timeout=0.2)
    assert dead.ping() is False
    with pytest.raises(StorageUnavailable):
        dead.load_experiments()
    exp = Experiment(key="exp", variations=("a", "b"), status="running")
    with pytest.raises(StorageUnavailable):
        dead.enroll(exp, "u1", 0, NOW)
    with pytest.raises(StorageUnavailable):
        dead.track([exp, exp], [event("u1")])


def test_readme_keyspace_table_matches_store_docstring() -> None:
    """The README repeats storage/keys.py's keyspace table word for word."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()

    def rows(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("| `ab:")]

    assert rows(storage_keys.__doc__ or "") != []
    assert rows(readme) == rows(storage_keys.__doc__ or "")


def pending_connections(listener: socket.socket) -> int:
    """Accept (and count) every connection waiting on ``listener``."""
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_breaker_fails_fast_after_redis_stops_answering() -> None:
    """A Redis that accepts but never answers costs one timeout, not one per call."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    now = [100.0]
    client = redis_py.Redis(
        port=port,
        socket_timeout=0.1,
        socket_connect_timeout=0.1,
        retry=Retry(NoBackoff(), 0),
    )
    hung = Store(client, clock=lambda: now[0])
    exp = Experiment(key="exp", variations=("a", "b"), status="running")
    try:
        with pytest.raises(StorageUnavailable):
            hung.enroll(exp, "u1", 0, NOW)
        assert pending_connections(listener) == 1
        for _ in range(20):
            with pytest.raises(StorageUnavailable):
                hung.enroll(exp, "u1", 0, NOW)
        assert pending_connections(listener) == 0  # nothing was sent
        now[0] += connection.BREAKER_SECONDS
        with pytest.raises(StorageUnavailable):
            hung.track([exp], [event("u1")])
        assert pending_connections(listener) == 1  # tried again after the pause
    finally:
        client.close()
        listener.close()


def test_segments_round_trip(store: Store, redis: redis_py.Redis) -> None:
    created = store.create_segment(Segment(key="beta", values=("u-1", 2)))
    assert created.version == 1
    assert redis.smembers("t:segs") == {b"beta"}
    assert redis.hget("t:seg:{beta}", "ver") == b"1"
    assert store.get_segment("beta") == created
    assert store.load_segments() == {"beta": created}
    changed = replace(created, values=("u-3",))
    saved = store.save_segment(changed)
    assert saved.version == 2 and saved.values == ("u-3",)
    with pytest.raises(ConflictError):
        store.save_segment(changed)  # read at version 1: someone wrote since
    with pytest.raises(ConflictError):
        store.create_segment(Segment(key="beta", condition={"plan": "pro"}))
    assert store.delete_segment("beta") is True
    assert redis.keys("*") == []
    assert store.get_segment("beta") is None
    assert store.delete_segment("beta") is False
    with pytest.raises(NotFoundError):
        store.save_segment(saved)
