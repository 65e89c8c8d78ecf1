"""The live counters of enroll.lua and track.lua: attribution, phases, caps,
windows, counting rules and per-minute snapshots, against the real server."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis as redis_py

from abflask.core.event import Event
from abflask.core.experiment import Experiment
from abflask.core.metric import Metric
from abflask.storage.counters import Cell, counting_rule
from abflask.storage.localredis import LocalRedis
from abflask.storage.packing import pack_event
from abflask.storage.store import Store

START = 1_789_999_980.0
"""The experiment's first phase starts here (a whole minute)."""


@pytest.fixture
def store(redis_server: LocalRedis, redis: redis_py.Redis) -> Store:
    return Store.from_url(redis_server.url, prefix="t")


def started(store: Store, *metrics: Metric, **fields: object) -> Experiment:
    exp = Experiment(key="exp", variations=("a", "b"), metrics=metrics, **fields)  # type: ignore[arg-type]
    return store.create_experiment(exp.start(START))


def track(
    store: Store, exp: Experiment, user: str, at: float, value: float | None = None
) -> str | None:
    event = pack_event(Event(user, "buy", at, value))
    return store.track([exp], [event], at)["exp"]


def cells(store: Store, exp: Experiment, phase: str = "0") -> list[Cell]:
    live, _, _ = store.live(exp)
    return live.phase(phase, 2).cells("buy")


def test_only_events_at_or_after_the_exposure_count(store: Store) -> None:
    exp = started(store, Metric("buy", type="value"))
    store.enroll(exp, "u1", 1, START + 100)
    assert track(store, exp, "u1", START + 99, 5.0) == "1"  # recorded, too early
    assert track(store, exp, "u1", START + 100, 2.0) == "1"
    live, _, _ = store.live(exp)
    assert live.unattributed == 1
    assert live.phase("0", 2).cells("buy")[1] == Cell(1, 1, 2.0, 4.0, 0)
    assert store.log_length("exp") == 3  # the early event is still logged


def test_a_window_stops_counting_after_it(store: Store) -> None:
    exp = started(store, Metric("buy", window=60))
    store.enroll(exp, "u1", 0, START)
    track(store, exp, "u1", START + 59)
    track(store, exp, "u1", START + 60)
    live, _, _ = store.live(exp)
    assert live.phase("0", 2).cells("buy")[0].count == 1
    assert live.unattributed == 1
    assert live.rules == {"buy": "-,60"}


def test_a_fixed_cap_caps_each_users_total_and_negatives_are_counted(
    store: Store,
) -> None:
    exp = started(store, Metric("buy", type="value", cap=10.0))
    for user in ("u1", "u2"):
        store.enroll(exp, user, 0, START)
    for value in (4.0, 4.0, 4.0):  # 12 in all, capped at 10
        track(store, exp, "u1", START + 1, value)
    track(store, exp, "u2", START + 1, -3.0)
    [cell, _] = cells(store, exp)
    assert cell == Cell(users=2, count=4, sum=7.0, sum_squares=109.0, negative=1)
    track(store, exp, "u2", START + 2, 5.0)  # total 2: no longer negative
    [cell, _] = cells(store, exp)
    assert (cell.sum, cell.sum_squares, cell.negative) == (12.0, 104.0, 0)


def test_counting_rule_is_kept_from_the_first_event(store: Store) -> None:
    exp = started(store, Metric("buy", type="value", cap=10.0))
    store.enroll(exp, "u1", 0, START)
    track(store, exp, "u1", START + 1, 20.0)
    changed = store.save_experiment(
        replace(exp, metrics=(Metric("buy", type="value", cap=50.0),))
    )
    track(store, exp := changed, "u1", START + 2, 20.0)
    live, _, _ = store.live(exp)
    assert live.rules["buy"] == counting_rule(Metric("buy", type="value", cap=10.0))
    assert live.rules["buy"] != counting_rule(exp.metrics[0])
    assert live.phase("0", 2).cells("buy")[0].sum == 10.0


def test_users_count_in_the_phase_of_their_exposure(store: Store) -> None:
    exp = started(store, Metric("buy"))
    store.enroll(exp, "early", 0, START + 10)
    exp = store.save_experiment(exp.new_phase(START + 100.5, [0.2, 0.8]))
    store.enroll(exp, "before", 1, START + 100.9)  # phase 1 begins at START + 101
    # A phase that began at a fractional time (an older definition) leaves out
    # the users first exposed in its second.
    fractional = (exp.phases[0], replace(exp.phases[1], started_at=START + 101.5))
    exp = store.save_experiment(replace(exp, phases=fractional))
    store.enroll(exp, "boundary", 1, START + 101.9)
    store.enroll(exp, "late", 1, START + 102)
    for user in ("early", "before", "boundary", "late"):
        track(store, exp, user, START + 200)
    live, _, _ = store.live(exp)
    assert live.phase("0", 2).participants == [1, 1]
    assert live.phase("1", 2).participants == [0, 1]
    assert live.phase("x", 2).participants == [0, 1]
    assert [c.users for c in live.phase("0", 2).cells("buy")] == [1, 1]
    assert [c.users for c in live.phase("1", 2).cells("buy")] == [0, 1]
    assert [c.users for c in live.phase("x", 2).cells("buy")] == [0, 1]
    assert live.participants == 4
    # Returning users keep their variation whatever the stored exposure time.
    assert store.enroll(exp, "late", 0, START + 500)[1] == 1


def test_a_snapshot_holds_the_state_at_the_start_of_each_minute(
    store: Store,
) -> None:
    exp = started(store, Metric("buy", type="value"))
    store.enroll(exp, "u1", 0, START + 5)  # first write: snapshot of nothing
    track(store, exp, "u1", START + 30, 2.0)  # same minute: no snapshot
    store.enroll(exp, "u2", 1, START + 61)  # minute 1: snapshot, then enroll
    track(store, exp, "u2", START + 185, 3.0)  # minute 3
    _, series, _ = store.live(exp)
    assert [s.t for s in series] == [START, START + 60, START + 180]
    assert [s.participants for s in series] == [[0, 0], [1, 0], [1, 1]]
    assert [s.cells[0].sum for s in series] == [0.0, 2.0, 2.0]
    assert series[-1].cells[1] == Cell(0, 0, 0.0, 0.0, 0)
    assert {s.phase for s in series} == {"0"}


def test_snapshots_thin_out_beyond_their_limit(store: Store) -> None:
    exp = started(store, Metric("buy"))
    for minute in range(600):
        store.enroll(exp, f"u{minute}", minute % 2, START + 60 * minute)
    _, series, _ = store.live(exp)
    minutes = [int(s.t - START) // 60 for s in series]
    assert len(series) <= 512
    assert minutes[0] == 0 and minutes == sorted(minutes)
    assert minutes[-1] >= 598  # the newest survive; the step doubled
    assert sum(series[-1].participants) == minutes[-1]
