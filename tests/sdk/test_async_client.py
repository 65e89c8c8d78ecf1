"""The asyncio client against the real service over HTTP (live server, real Redis)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis as redis_py
from flask.testing import FlaskClient

from abflask.core.records import decode_record
from abflask.sdk import AsyncClient, Client, Reason, User
from tests.helpers import PREFIX, SDK_KEY, Admin, free_port


def log(redis: redis_py.Redis, key: str = "exp") -> list[Any]:
    return [decode_record(r) for r in redis.lrange(f"{PREFIX}:x:{{{key}}}:log", 0, -1)]


def test_async_client_agrees_with_process_user_for_10000_users(
    live_server: str, admin: Admin, client: FlaskClient
) -> None:
    admin.experiment("exp", weights=[0.3, 0.7], coverage=0.9)
    users = [f"user-{i}" for i in range(10_000)]

    async def decide() -> list[str]:
        async with AsyncClient(live_server, SDK_KEY, flush_interval=0.05) as sdk:
            return [sdk.variation("exp", u) for u in users]

    local = asyncio.run(decide())
    served = [
        client.get(f"/process_user?user_id={u}&experiment=exp").json["variation"]
        for u in users
    ]
    assert local == served
    assert {"control", "treatment"} == set(local)


def test_async_and_sync_clients_decide_alike(live_server: str, admin: Admin) -> None:
    admin.experiment("exp", weights=[0.5, 0.5], coverage=0.8)
    admin.post("/flags", json={"key": "nav", "enabled": True, "rollout": 0.5})
    sync = Client(live_server, SDK_KEY)

    async def decide() -> list[Any]:
        async with AsyncClient(live_server, SDK_KEY) as sdk:
            return [
                (
                    sdk.variation_detail("exp", f"u{i}"),
                    sdk.is_feature_on("nav", f"u{i}"),
                )
                for i in range(500)
            ]

    mine = asyncio.run(decide())
    assert mine == [
        (sync.variation_detail("exp", f"u{i}"), sync.is_feature_on("nav", f"u{i}"))
        for i in range(500)
    ]
    sync.close(timeout=5)


def test_exposures_and_events_reach_the_event_log(
    live_server: str, admin: Admin, redis: redis_py.Redis
) -> None:
    admin.experiment("exp", coverage=0.9)

    async def run() -> tuple[int, int]:
        async with AsyncClient(live_server, SDK_KEY, flush_interval=0.02) as sdk:
            exposed = 0
            for i in range(50):
                exposed += sdk.variation_detail("exp", f"u{i}").in_experiment
                sdk.track("buy", User(f"u{i}", {"plan": "pro"}), value=i)
            assert await sdk.flush(timeout=10)
            stored = sdk.variation_detail("exp", "u1").reason
            assert stored in (Reason.STORED, Reason.EXCLUDED)
            return exposed, sdk.dropped

    exposed, dropped = asyncio.run(run())
    records = log(redis)
    assert len([r for r in records if r.exposure]) == exposed > 0
    assert len([r for r in records if not r.exposure]) == exposed
    assert dropped == 0


def test_aclose_returns_within_its_timeout_when_the_service_is_down() -> None:
    async def run() -> tuple[float, int]:
        sdk = AsyncClient(f"http://127.0.0.1:{free_port()}", SDK_KEY, batch_size=5)
        await sdk.start()  # the config fetch fails: no snapshot, still usable
        assert sdk.variation("exp", "u1") == "control"
        for i in range(20):
            sdk.track("buy", f"u{i}")
        await asyncio.sleep(1.0)
        started = time.monotonic()
        await sdk.aclose(timeout=0.5)
        return time.monotonic() - started, sdk.dropped

    elapsed, dropped = asyncio.run(run())
    assert elapsed <= 0.6
    assert dropped == 20
