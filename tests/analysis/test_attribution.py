"""Exposure-anchored attribution: which events count for a participant.

An event counts when its user was exposed in an earlier log record, at or
before the event's time, and within the metric's conversion window; the
others are counted as unattributed. Checked on hand-made logs, against a
record-by-record model over random logs cut into random chunks and state
files, and through the job on real service traffic.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from abflask import analysis
from abflask.analysis import aggregate, job
from abflask.analysis.aggregate import Aggregates
from abflask.core.records import encode_record
from abflask.storage.localredis import LocalRedis
from abflask.storage.store import Store
from tests.helpers import PREFIX, Admin

T0 = 1_790_000_000
DAY = 86_400
BUY, VIEW = 1, 2
"""Event ids."""


def user_id(n: int) -> bytes:
    return n.to_bytes(8, "little")


def exposure(user: int, variation: int, at: int) -> bytes:
    return encode_record(variation, at, user_id(user))


def event(user: int, at: int, event_id: int = BUY, value: float | None = None) -> bytes:
    return encode_record(0, at, user_id(user), event_id=event_id, value=value)


def fold(
    raw: list[bytes], windows: Mapping[int, int] | None = None, chunk: int = 50_000
) -> Aggregates:
    agg = Aggregates(windows)
    for start in range(0, len(raw), chunk):
        agg.fold(aggregate.decode(raw[start : start + chunk]))
    return agg


def pairs(agg: Aggregates) -> dict[tuple[int, int], tuple[float, int, int]]:
    """(user, event id) → (value total, count, first time)."""
    return {
        (int(r.user), int(r.event)): (float(r.value), int(r.count), int(r.first_at))
        for r in agg.pairs.itertuples()
    }


def test_purchases_before_enrollment_do_not_convert() -> None:
    """400 users bought 3 days before enrollment: once 100% conversion."""
    raw = [exposure(u, u % 2, T0) for u in range(400)]
    raw += [event(u, T0 - 3 * DAY, value=20.0) for u in range(400)]
    agg = fold(raw, chunk=150)
    assert len(agg.users) == 400
    assert len(agg.pairs) == 0
    assert agg.unattributed == 400


def test_events_at_and_after_exposure_count() -> None:
    raw = [
        exposure(1, 0, T0),
        event(1, T0, value=2.0),
        event(1, T0 + 90 * DAY, value=3.0),
    ]
    agg = fold(raw)
    assert pairs(agg) == {(1, BUY): (5.0, 2, T0)}
    assert agg.unattributed == 0


def test_events_of_users_not_exposed_yet_are_unattributed() -> None:
    """The log holds a user's exposure before their events; an event before the
    exposure record (or without one) is not the participant's."""
    raw = [event(1, T0 + 5), event(2, T0 + 5), exposure(1, 0, T0), event(1, T0 + 6)]
    agg = fold(raw)
    assert pairs(agg) == {(1, BUY): (0.0, 1, T0 + 6)}
    assert agg.unattributed == 2


def test_windows_cut_off_late_events_of_their_event_only() -> None:
    raw = [exposure(1, 0, T0)] + [
        event(1, T0 + dt, event_id=e, value=1.0)
        for e in (BUY, VIEW)
        for dt in (0, 3599, 3600, 10 * DAY)
    ]
    agg = fold(raw, windows={BUY: 3600})
    assert pairs(agg) == {(1, BUY): (2.0, 2, T0), (1, VIEW): (4.0, 4, T0)}
    assert agg.unattributed == 2


def test_a_user_exposed_to_two_variations_is_flagged_multi() -> None:
    raw = [
        exposure(1, 1, T0 + 10),
        exposure(1, 0, T0),  # earlier in time, later in the log
        exposure(2, 1, T0),
        exposure(2, 1, T0 + 5),  # the same variation again: not multi
    ]
    agg = fold(raw, chunk=1)
    users = agg.users
    assert users.loc[1].tolist() == [0, T0, True]  # the earliest exposure wins
    assert users.loc[2].tolist() == [1, T0, False]


def test_a_repeated_exposure_in_one_chunk_keeps_the_earliest() -> None:
    raw = [exposure(1, 1, T0 + 10), exposure(1, 0, T0), exposure(1, 0, T0)]
    agg = fold(raw)
    assert agg.users.loc[1].tolist() == [0, T0, True]


def test_exposure_and_event_in_one_chunk_count_in_log_order() -> None:
    raw = [event(1, T0), exposure(1, 0, T0), event(1, T0)]
    agg = fold(raw)
    assert pairs(agg) == {(1, BUY): (0.0, 1, T0)}
    assert agg.unattributed == 1


def test_unattributed_and_windows_survive_a_state_file(tmp_path: Path) -> None:
    agg = fold([exposure(1, 0, T0), event(1, T0 - 1), event(1, T0 + 9)], {BUY: 5})
    path = tmp_path / "exp.npz"
    state_id = job.save_state(path, agg)
    again = job.load_state(path, state_id, 3, {BUY: 5})
    assert again is not None
    assert again.unattributed == 2 and again.windows == {BUY: 5}
    assert again.users["multi"].tolist() == [False]


@pytest.mark.parametrize(
    ("windows", "usable"),
    [
        ({BUY: 5}, True),
        ({BUY: 5, 7: 60}, True),  # event id 7 has no record folded yet
        ({BUY: 6}, False),
        ({}, False),
        ({BUY: 5, VIEW: 60}, False),
    ],
)
def test_a_state_folded_with_other_windows_is_not_used(
    tmp_path: Path,
    windows: dict[int, int],
    usable: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="abflask")
    agg = fold([exposure(1, 0, T0), event(1, T0 + 1, VIEW)], {BUY: 5})
    path = tmp_path / "exp.npz"
    state_id = job.save_state(path, agg)
    loaded = job.load_state(path, state_id, 2, windows)
    assert (loaded is not None) is usable
    if usable:
        assert loaded is not None and loaded.windows == windows
    else:
        assert "other conversion windows" in caplog.text


@dataclass
class Model:
    """Attribution record by record, as the rules say it."""

    windows: Mapping[int, int]
    users: dict[int, list[int]] = field(default_factory=dict)
    """user → [variation, exposed_at, multi]"""
    pairs: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    unattributed: int = 0

    def add(self, record: tuple[int, int, int, int, int, float]) -> None:
        kind, user, variation, at, event_id, value = record
        if kind == 0:
            if user not in self.users:
                self.users[user] = [variation, at, 0]
                return
            row = self.users[user]
            row[2] |= int(row[0] != variation)
            if at < row[1]:
                row[0], row[1] = variation, at
            return
        exposed = self.users.get(user)
        window = self.windows.get(event_id)
        if (
            exposed is None
            or at < exposed[1]
            or (window is not None and at >= exposed[1] + window)
        ):
            self.unattributed += 1
            return
        pair = self.pairs.setdefault((user, event_id), [0.0, 0, at])
        pair[0] += value
        pair[1] += 1
        pair[2] = min(pair[2], at)


records = st.lists(
    st.tuples(
        st.integers(0, 1),  # 0 exposure, 1 event
        st.integers(0, 7),  # user
        st.integers(0, 2),  # variation
        st.integers(T0 - 6, T0 + 6),  # time: ties are frequent
        st.integers(1, 3),  # event id
        st.sampled_from([0.0, 1.0, 2.5, -4.0]),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(
    log=records,
    cuts=st.lists(st.integers(0, 80), max_size=8),
    saves=st.lists(st.booleans(), min_size=9, max_size=9),
    windows=st.dictionaries(st.integers(1, 3), st.integers(1, 8), max_size=2),
)
def test_any_chunking_and_state_files_give_the_one_fold(
    log: list[tuple[int, int, int, int, int, float]],
    cuts: list[int],
    saves: list[bool],
    windows: dict[int, int],
) -> None:
    """Chunk boundaries and state files (saved and loaded between chunks) change
    nothing, and the result is the record-by-record model's."""
    raw = [
        exposure(u, v, at) if kind == 0 else event(u, at, e, value)
        for kind, u, v, at, e, value in log
    ]
    model = Model(windows)
    for item in log:
        model.add(item)
    bounds = sorted({0, len(raw), *(c for c in cuts if c < len(raw))})
    agg = Aggregates(windows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exp.npz"
        for i, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
            agg.fold(aggregate.decode(raw[start:end]))
            if saves[i]:
                state_id = job.save_state(path, agg)
                loaded = job.load_state(path, state_id, end, windows)
                assert loaded is not None
                agg = loaded
    users = {
        int(u): [int(r.variation), int(r.exposed_at), int(r.multi)]
        for u, r in agg.users.iterrows()
    }
    assert users == model.users
    assert agg.users.index.is_monotonic_increasing
    # Sums of these values are exact in any order.
    assert {k: list(v) for k, v in pairs(agg).items()} == model.pairs
    assert agg.unattributed == model.unattributed
    assert agg.position == len(raw)


def test_users_come_and_go_in_large_chunks() -> None:
    """Many users, their exposures spread over chunks: sorted inserts stay exact."""
    rng = np.random.default_rng(5)
    users = rng.permutation(20_000)
    raw: list[bytes] = []
    for u in users:
        raw.append(exposure(int(u), int(u) % 2, T0))
        raw.append(event(int(u), T0 + int(u) % 3 - 1, value=1.0))
    agg = fold(raw, chunk=1_777)
    assert agg.users.index.tolist() == sorted(int(u) for u in users)
    assert len(agg.pairs) == sum(int(u) % 3 != 0 for u in users)
    assert agg.unattributed == sum(int(u) % 3 == 0 for u in users)


# -- through the job, on service traffic ---------------------------------------


def enroll_and_track(
    client: FlaskClient, users: int, offsets: Mapping[str, list[int]]
) -> int:
    """Expose ``users`` now; each tracks every event at each offset (seconds).

    Returns the earliest second an exposure can have been stamped with.
    """
    start = int(time.time())
    for i in range(users):
        answer = client.get(f"/process_user?user_id=u{i}&experiment=exp")
        assert answer.status_code == 200
    batch = [
        {"user_id": f"u{i}", "event": name, "value": 1.0, "timestamp": start + dt}
        for i in range(users)
        for name, times in offsets.items()
        for dt in times
    ]
    for at in range(0, len(batch), 500):
        sent = client.post("/track/batch", json={"events": batch[at : at + 500]})
        assert sent.status_code == 202
    return start


def state(env: Path, redis_server: LocalRedis) -> Aggregates:
    store = Store.from_url(redis_server.url, prefix=PREFIX)
    position, state_id = store.bookmark("exp")
    path = job.state_path(env / "data" / "analysis", PREFIX, "exp")
    exp = store.get_experiment("exp")
    assert exp is not None
    windows = aggregate.windows(exp, store.event_names("exp"))
    agg = job.load_state(path, state_id, position, windows)
    assert agg is not None
    return agg


def counts_by_event(agg: Aggregates, store: Store) -> dict[str, int]:
    names = store.event_names("exp")
    pairs = agg.pairs
    return {
        names[int(e)]: int(pairs.loc[pairs["event"] == e, "count"].sum())
        for e in pairs["event"].unique()
    }


def test_the_job_attributes_service_traffic_with_windows(
    env: Path,
    client: FlaskClient,
    admin: Admin,
    redis_server: LocalRedis,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin.experiment("exp", metrics=[{"event": "buy", "window": 3600}, "view"])
    early, inside, late = -3 * DAY, 600, 7200  # seconds from enrollment
    offsets = {"buy": [early, inside, late], "view": [early, inside, late]}
    enroll_and_track(client, 120, offsets)
    assert analysis.main(["--experiment", "exp", "--format", "json"]) == 0
    capsys.readouterr()
    store = Store.from_url(redis_server.url, prefix=PREFIX)
    agg = state(env, redis_server)
    assert counts_by_event(agg, store) == {"buy": 120, "view": 240}
    assert agg.unattributed == 120 * 3  # early buy, late buy, early view
    assert agg.pairs["first_at"].min() >= agg.users["exposed_at"].min()

    # More traffic is folded incrementally, under the same rules.
    enroll_and_track(client, 160, {"buy": [inside]})
    caplog.clear()
    assert analysis.main(["--experiment", "exp"]) == 0
    assert "whole log" not in caplog.text
    agg = state(env, redis_server)
    assert counts_by_event(agg, store) == {"buy": 120 + 160, "view": 240}
    assert agg.unattributed == 120 * 3  # u0-u119 bought again: inside

    # A wider window changes what counts: the job reads everything again.
    metrics = [{"event": "buy", "window": 3 * 3600}, "view"]
    assert admin.patch("/experiments/exp", json={"metrics": metrics}).status_code == 200
    caplog.clear()
    assert analysis.main(["--experiment", "exp"]) == 0
    assert "other conversion windows" in caplog.text
    agg = state(env, redis_server)
    assert counts_by_event(agg, store) == {"buy": 120 * 2 + 160, "view": 240}
    assert agg.unattributed == 120 * 2
    assert json.loads(json.dumps(agg.windows)) == {"1": 3 * 3600}
