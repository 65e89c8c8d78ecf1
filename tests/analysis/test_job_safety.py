"""The analysis job's own safety: its lock, its state files, torn input."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis as redis_py
from flask.testing import FlaskClient

from abflask import analysis
from abflask.analysis import job
from abflask.analysis.aggregate import Aggregates
from abflask.storage.localredis import LocalRedis
from abflask.storage.store import Store
from tests.helpers import PREFIX, Admin

LOCK_KEY = f"{PREFIX}:lock:{job.LOCK}"


def enroll(client: FlaskClient, admin: Admin, key: str, users: int) -> None:
    admin.experiment(key, metrics=["buy"])
    events = []
    for i in range(users):
        client.get(f"/process_user?user_id=u{i}&experiment={key}")
        events.append({"user_id": f"u{i}", "event": "buy", "value": i % 7})
    for start in range(0, len(events), 500):
        answer = client.post("/track/batch", json={"events": events[start:][:500]})
        assert answer.status_code == 202


def results(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The experiments of a JSON report, without their generation time."""
    found = json.loads(capsys.readouterr().out)["experiments"]
    return [{k: v for k, v in r.items() if k != "generated_at"} for r in found]


def full_reads(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if "whole log" in r.getMessage() or "unreadable" in r.getMessage()
    ]


def state_file(env: Path, key: str) -> Path:
    return job.state_path(env / "data" / "analysis", PREFIX, key)


def test_torn_state_file_is_read_as_missing(
    env: Path,
    client: FlaskClient,
    admin: Admin,
    redis: redis_py.Redis,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A torn file once crashed every later run with BadZipFile."""
    enroll(client, admin, "exp", 300)
    assert analysis.main(["--format", "json"]) == 0
    good = results(capsys)
    path = state_file(env, "exp")
    path.write_bytes(path.read_bytes()[:200])
    caplog.clear()
    assert analysis.main(["--format", "json"]) == 0
    assert results(capsys) == good
    assert any("unreadable" in line for line in full_reads(caplog))
    assert any("whole log" in line for line in full_reads(caplog))
    caplog.clear()
    assert analysis.main([]) == 0  # the state was rewritten whole: incremental
    assert full_reads(caplog) == []


@pytest.mark.parametrize(
    "arrays",
    [
        {"users_user": np.array([1.5])},
        {**Aggregates().to_arrays(), "position": np.array([], dtype=np.int64)},
        {**Aggregates().to_arrays(), "users_user": np.array([1, 2], dtype=np.uint64)},
        {**Aggregates().to_arrays(), "pairs_value": np.array(["x"])},
        {
            k: v
            for k, v in Aggregates().to_arrays().items()
            if k not in ("users_multi", "unattributed", "max_event", "attribution")
        },
        {**Aggregates().to_arrays(), "attribution": np.array(["first-touch"])},
        {
            **Aggregates().to_arrays(),
            "users_user": np.array([2, 1], dtype=np.uint64),
            "users_variation": np.zeros(2, np.int16),
            "users_exposed_at": np.zeros(2, np.int64),
            "users_multi": np.zeros(2, bool),
        },
        {**Aggregates().to_arrays(), "unattributed": np.array([-1])},
    ],
    ids=[
        "foreign",
        "no-position",
        "ragged",
        "wrong-dtype",
        "before-attribution",
        "other-rule",
        "unsorted-users",
        "negative-count",
    ],
)
def test_state_with_wrong_arrays_is_read_as_missing(
    tmp_path: Path, arrays: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "exp.npz"
    np.savez(path, state_id=np.array(["id-1"]), **arrays)
    assert job.load_state(path, "id-1", 0) is None
    assert "unreadable" in caplog.text


def test_saved_state_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "t" / "exp.npz"
    state_id = job.save_state(path, Aggregates())
    loaded = job.load_state(path, state_id, 0)
    assert loaded is not None and loaded.position == 0
    assert [p.name for p in path.parent.iterdir()] == ["exp.npz"]  # no temp left


def test_every_experiment_keeps_its_own_state(
    env: Path,
    client: FlaskClient,
    admin: Admin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Experiment a's temporary file was a.tmp's state file: a.tmp re-read it all."""
    enroll(client, admin, "a", 50)
    enroll(client, admin, "a.tmp", 80)
    assert analysis.main([]) == 0
    caplog.clear()
    for _ in range(2):
        assert analysis.main([]) == 0
    assert full_reads(caplog) == []
    assert state_file(env, "a") != state_file(env, "a.tmp")


@pytest.mark.parametrize(
    ("one", "other"),
    [(("t", "a.tmp"), ("t", "a")), (("t-a", "b"), ("t", "a-b"))],
    ids=["tmp-suffix", "prefix-dash"],
)
def test_state_paths_are_unambiguous(
    one: tuple[str, str], other: tuple[str, str]
) -> None:
    root = Path("/state")
    assert job.state_path(root, *one) != job.state_path(root, *other)


def test_concurrent_saves_never_share_a_temporary_file(tmp_path: Path) -> None:
    """Two runs writing one state through one temp path: lost or torn files."""
    path = tmp_path / "t" / "exp.npz"
    errors: list[BaseException] = []
    ids: list[str] = []
    barrier = threading.Barrier(4)

    def save() -> None:
        barrier.wait()
        try:
            for _ in range(20):
                ids.append(job.save_state(path, Aggregates()))
        except BaseException as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(job.load_state(path, i, 0) is not None for i in ids) == 1
    assert [p.name for p in path.parent.iterdir()] == ["exp.npz"]


ChunkHook = Callable[[int, redis_py.Redis], None]


def hooked_read_log(
    monkeypatch: pytest.MonkeyPatch, redis: redis_py.Redis, hook: ChunkHook
) -> None:
    """Read logs in small chunks and call ``hook(i, redis)`` before chunk ``i``."""
    original = job.read_log
    monkeypatch.setattr(job, "CHUNK", 100)
    monkeypatch.setattr(job, "RENEW_AFTER", 0.0)

    def read_log(*args: Any) -> Iterator[list[bytes]]:
        for i, chunk in enumerate(original(*args)):
            hook(i, redis)
            yield chunk

    monkeypatch.setattr(job, "read_log", read_log)


def test_lock_is_renewed_between_chunks(
    env: Path,
    client: FlaskClient,
    admin: Admin,
    redis: redis_py.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enroll(client, admin, "exp", 300)
    seen: list[int] = []

    def hook(i: int, r: redis_py.Redis) -> None:
        if i == 1:
            r.pexpire(LOCK_KEY, 1500)  # about to expire
        if i == 3:
            seen.append(int(r.pttl(LOCK_KEY)))

    hooked_read_log(monkeypatch, redis, hook)
    assert analysis.main([]) == 0
    assert seen and seen[0] > (job.LOCK_TTL - 60) * 1000
    assert redis.exists(LOCK_KEY) == 0  # released at the end


def test_lost_lock_stops_the_run_without_writing(
    env: Path,
    client: FlaskClient,
    admin: Admin,
    redis: redis_py.Redis,
    redis_server: LocalRedis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another run took the lock after ours expired: ours must not write."""
    enroll(client, admin, "exp", 300)

    def hook(i: int, r: redis_py.Redis) -> None:
        if i == 1:
            r.set(LOCK_KEY, "other-run", ex=60)

    hooked_read_log(monkeypatch, redis, hook)
    assert analysis.main([]) == 1
    assert "lock expired or was taken" in caplog.text
    store = Store.from_url(redis_server.url, prefix=PREFIX)
    assert store.results("exp") is None
    assert store.bookmark("exp") == (0, "")
    assert not state_file(env, "exp").exists()
    assert redis.get(LOCK_KEY) == b"other-run"  # the other run's lock is kept
