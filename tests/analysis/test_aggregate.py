"""Vectorized decoding and folding of event-log records."""

from __future__ import annotations

import random

import numpy as np
import pytest

from abflask.analysis import aggregate
from abflask.analysis.aggregate import Aggregates
from abflask.core.event import Event
from abflask.core.records import EXPOSURE, decode_record, encode_head, fingerprint
from abflask.storage.packing import pack_event

NOW = 1_790_000_000


def record(event: Event | None, user: str, variation: int, event_id: int = 1) -> bytes:
    """A log record as the Lua scripts assemble it."""
    if event is None:
        return bytes([variation]) + encode_head(EXPOSURE, NOW, fingerprint(user))
    packed = pack_event(event)
    return (
        bytes([variation]) + packed.head + event_id.to_bytes(2, "little") + packed.tail
    )


def sample(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        user = f"u{rng.randrange(50)}"
        if i < 50:
            out.append(record(None, f"u{i}", i % 3))
            continue
        value = rng.choice([None, rng.uniform(-5, 50)])
        props = {"plan": "pro"} if rng.random() < 0.2 else None
        event = Event(user, "buy", NOW + i, value, props)
        out.append(record(event, user, int(user[1:]) % 3, rng.randrange(1, 4)))
    return out


def test_decode_matches_the_scalar_decoder() -> None:
    raw = sample(500, seed=1)
    cols = aggregate.decode(raw)
    for i, item in enumerate(raw):
        rec = decode_record(item)
        assert cols["variation"][i] == rec.variation
        assert bool(cols["exposure"][i]) is rec.exposure
        assert cols["at"][i] == rec.timestamp
        assert int(cols["user"][i]).to_bytes(8, "little") == rec.user
        if not rec.exposure:
            assert cols["event"][i] == rec.event_id
            assert cols["value"][i] == (rec.value or 0.0)


def test_decode_of_nothing_is_empty() -> None:
    assert all(len(v) == 0 for v in aggregate.decode([]).values())


def folded(raw: list[bytes], chunk: int) -> Aggregates:
    agg = Aggregates()
    for start in range(0, len(raw), chunk):
        agg.fold(aggregate.decode(raw[start : start + chunk]))
    agg.finish()
    return agg


def canonical(agg: Aggregates) -> tuple[list[object], list[object]]:
    users = agg.users.sort_index()
    pairs = agg.pairs.sort_values(["user", "event"]).reset_index(drop=True)
    return (users.reset_index().values.tolist(), pairs.round(9).values.tolist())


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_chunking_does_not_change_the_aggregates(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregate, "COMPACT_ROWS", 5)  # compact often
    raw = sample(600, seed=2)
    assert canonical(folded(raw, chunk)) == canonical(folded(raw, len(raw)))


def test_pairs_hold_totals_counts_and_first_time() -> None:
    raw = [record(None, "a", 1)] + [
        record(Event("a", "buy", NOW + t, v), "a", 1)
        for t, v in ((5, 2.0), (3, None), (9, 4.5))
    ]
    agg = folded(raw, 2)
    [row] = agg.pairs.to_dict("records")
    assert (row["value"], row["count"], row["first_at"]) == (6.5, 3, NOW + 3)
    assert agg.users["variation"].tolist() == [1]
    assert agg.position == 4


def test_first_exposure_wins_and_strangers_are_unattributed() -> None:
    """Events of users never exposed were dropped silently; now they are counted
    as unattributed, and a second variation marks the user ``multi``."""
    raw = [
        record(None, "a", 0),
        record(None, "a", 1),
        record(Event("ghost", "buy", NOW), "ghost", 0),
    ]
    agg = folded(raw, 1)
    assert agg.users[["variation", "multi"]].values.tolist() == [[0, True]]
    assert len(agg.pairs) == 0
    assert agg.unattributed == 1


def test_arrays_round_trip() -> None:
    ghost = record(Event("ghost", "buy", NOW), "ghost", 0)
    agg = folded([*sample(300, seed=3), ghost], 50)
    again = Aggregates.from_arrays(agg.to_arrays())
    assert canonical(again) == canonical(agg)
    assert again.position == agg.position
    assert again.unattributed == agg.unattributed > 0
    assert np.array_equal(again.users.index.to_numpy(), agg.users.index.to_numpy())
