"""The SDK and the service agree under targeting: the acceptance test of issue 12.

Segments, a targeted experiment and a flag with rules and a prerequisite are
made through the admin API of the real app (live server, real Redis); the
SDK fetches the snapshot over HTTP and decides 10,000 users with random
attributes locally, and ``/process_user`` and ``GET /flags/<key>`` answer
the same users with the same attributes.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from abflask.sdk import AsyncClient, Client, Reason, User
from tests.helpers import SDK_KEY, Admin

USERS = 10_000
SERVICE_REASONS = {
    Reason.ASSIGNED: {"enrolled", "sticky"},  # sticky: the SDK's exposure came first
    Reason.STORED: {"sticky"},
    Reason.EXCLUDED: {"excluded"},
    Reason.NOT_TARGETED: {"not_targeted"},
}
"""The service's reasons that match each reason of the SDK."""


@pytest.fixture
def targeting(admin: Admin) -> None:
    """Two segments, a targeted experiment, and flags with rules."""
    for body in (
        {"key": "eu", "condition": {"country": {"$in": ["DE", "FR", "IT"]}}},
        {"key": "beta", "values": [f"user-{i}" for i in range(0, USERS, 13)]},
    ):
        assert admin.post("/segments", json=body).status_code == 201
    admin.experiment(
        "onboarding",
        variations=["control", "short", "guided"],
        weights=[0.4, 0.3, 0.3],
        coverage=0.9,
        segments=["eu"],
        condition={
            "plan": {"$eq": "pro"},
            "app_version": {"$vgte": "2.3.0"},
            "$or": [{"id": {"$inGroup": "beta"}}, {"age": {"$gte": 30}}],
        },
    )
    for body in (
        {"key": "auth", "enabled": True, "rollout": 0.8},
        {
            "key": "theme",
            "enabled": True,
            "value": "blue",
            "default": "grey",
            "rollout": 0.4,
            "requires": ["auth"],
            "rules": [
                {"segments": ["eu"], "condition": {"plan": "pro"}, "force": "gold"},
                {"condition": {"id": {"$inGroup": "beta"}}, "rollout": 0.5,
                 "value": {"shade": 2}},
                {"condition": {"app_version": {"$vlt": "2.0.0"}}, "force": None},
            ],
        },
    ):  # fmt: skip
        created = admin.post("/flags", json=body)
        assert created.status_code == 201, created.json


def random_user(rng: random.Random, i: int) -> User:
    properties: dict[str, Any] = {}
    if rng.random() < 0.9:
        properties["country"] = rng.choice(["DE", "FR", "IT", "US", "GB"])
    if rng.random() < 0.85:
        properties["plan"] = rng.choice(["free", "pro", "pro", "team"])
    if rng.random() < 0.85:
        properties["app_version"] = rng.choice(
            ["1.9.0", "2.2.9", "2.3.0", "2.10.1", "3.0.0-rc.1", "v3.1.0"]
        )
    if rng.random() < 0.8:
        properties["age"] = rng.randint(16, 70)
    if rng.random() < 0.02:
        properties["id"] = "user-0"  # in "beta", yet the user id wins
    return User(f"user-{i}", properties)


@pytest.fixture
def users() -> list[User]:
    rng = random.Random(12)
    return [random_user(rng, i) for i in range(USERS)]


@pytest.fixture
def sdk(live_server: str, targeting: None) -> Iterator[Client]:
    client = Client(live_server, SDK_KEY, flush_interval=0.05)
    yield client
    client.close(timeout=10)


def served(client: FlaskClient, path: str, user: User, **params: str) -> Any:
    query = {**params, "user_id": user.id}
    if user.properties:
        query["attributes"] = json.dumps(user.properties)
    response = client.get(f"{path}?{urlencode(query)}")
    assert response.status_code == 200, response.json
    return response.json


def test_sdk_and_service_agree_on_10000_users_with_attributes(
    sdk: Client, client: FlaskClient, users: list[User]
) -> None:
    local = [sdk.variation_detail("onboarding", u) for u in users]
    flags = [sdk.get_feature_value_detail("theme", u) for u in users]
    for user, mine, flag in zip(users, local, flags, strict=True):
        answer = served(client, "/process_user", user, experiment="onboarding")
        assert (mine.value, mine.in_experiment) == (
            answer["variation"],
            answer["in_experiment"],
        ), (user, answer)
        assert answer["reason"] in SERVICE_REASONS[mine.reason], (user, answer)
        checked = served(client, "/flags/theme", user)
        assert (flag.value, flag.reason.value, bool(flag.value)) == (
            checked["value"],
            checked["reason"],
            checked["on"],
        ), (user, checked)
    reasons = {d.reason for d in local}
    assert reasons == {Reason.ASSIGNED, Reason.EXCLUDED, Reason.NOT_TARGETED}
    assert {d.reason for d in flags} == {
        Reason.RULE,
        Reason.FLAG_ON,
        Reason.NOT_IN_ROLLOUT,
        Reason.PREREQUISITE,
    }
    assert {json.dumps(d.value) for d in flags} >= {
        '"gold"', '"blue"', '"grey"', '{"shade": 2}', "null"
    }  # fmt: skip
    # Once the service has answered every exposure, the SDK serves what it stored.
    assert sdk.flush(timeout=30)
    again = [sdk.variation_detail("onboarding", u) for u in users]
    assert [d.value for d in again] == [d.value for d in local]
    assert {d.reason for d in again} == {
        Reason.STORED,
        Reason.EXCLUDED,
        Reason.NOT_TARGETED,
    }


def test_an_enrolled_user_keeps_the_variation_when_no_longer_targeted(
    sdk: Client, client: FlaskClient
) -> None:
    properties = {"country": "DE", "plan": "pro", "app_version": "2.3.0", "age": 20}
    betas = (User(f"user-{i}", properties) for i in range(0, USERS, 13))
    pro = next(u for u in betas if sdk.variation_detail("onboarding", u).in_experiment)
    first = sdk.variation_detail("onboarding", pro)  # heard stored, maybe already
    assert first.reason in (Reason.ASSIGNED, Reason.STORED)
    assert sdk.flush(timeout=10)
    moved = User(pro.id, {"country": "US", "plan": "free"})
    assert sdk.variation_detail("onboarding", moved) == (
        first.value,
        Reason.STORED,
        True,
    )
    answer = served(client, "/process_user", moved, experiment="onboarding")
    assert (answer["variation"], answer["reason"]) == (first.value, "sticky")
    stranger = User("user-1", moved.properties)
    assert sdk.variation_detail("onboarding", stranger).reason is Reason.NOT_TARGETED
    answer = served(client, "/process_user", stranger, experiment="onboarding")
    assert (answer["variation"], answer["reason"]) == ("control", "not_targeted")


def test_the_async_client_agrees_too(
    live_server: str, targeting: None, client: FlaskClient, users: list[User]
) -> None:
    sample = users[:1000]

    async def decide() -> list[Any]:
        async with AsyncClient(live_server, SDK_KEY, flush_interval=0.05) as ab:
            return [
                (ab.variation_detail("onboarding", u), ab.get_feature_value("theme", u))
                for u in sample
            ]

    for user, (mine, value) in zip(sample, asyncio.run(decide()), strict=True):
        answer = served(client, "/process_user", user, experiment="onboarding")
        assert mine.value == answer["variation"], (user, answer)
        assert answer["reason"] in SERVICE_REASONS[mine.reason], (user, answer)
        checked = served(client, "/flags/theme", user)
        assert value == checked["value"], (user, checked)
