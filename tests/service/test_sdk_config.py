"""``GET /sdk/config`` serves only what an SDK decides with: no drafts."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.helpers import SDK_KEY, Admin

HEADERS = {"X-SDK-Key": SDK_KEY}


def test_drafts_are_not_served_and_do_not_change_the_etag(
    client: FlaskClient, admin: Admin
) -> None:
    first = client.get("/sdk/config", headers=HEADERS)
    etag = first.headers["ETag"]
    admin.experiment("secret-launch", start=False, name="Codename Falcon")
    again = client.get("/sdk/config", headers={**HEADERS, "If-None-Match": etag})
    assert again.status_code == 304
    admin.post("/experiments/secret-launch/start")
    started = client.get("/sdk/config", headers={**HEADERS, "If-None-Match": etag})
    assert started.status_code == 200
    assert "secret-launch" in started.json["experiments"]
    assert "Codename Falcon" not in started.get_data(as_text=True)
    assert started.json["format_version"] == 1


def test_segments_are_served_and_a_change_changes_the_etag(
    client: FlaskClient, admin: Admin
) -> None:
    admin.post("/segments", json={"key": "beta", "values": ["u1"]})
    admin.post("/segments", json={"key": "eu", "condition": {"country": "DE"}})
    admin.post("/segments", json={"key": "unused", "values": ["u9"]})
    admin.experiment("exp", segments=["eu"])
    rule = {"condition": {"id": {"$inGroup": "beta"}}, "force": "blue"}
    admin.post("/flags", json={"key": "nav", "enabled": True, "rules": [rule]})
    first = client.get("/sdk/config", headers=HEADERS)
    assert first.json["format_version"] == 2
    assert first.json["segments"] == {
        "beta": {"values": ["u1"]},
        "eu": {"condition": {"country": "DE"}},
    }
    assert first.json["experiments"]["exp"]["segments"] == ["eu"]
    assert first.json["flags"]["nav"]["rules"] == [rule]
    etag = first.headers["ETag"]
    admin.patch("/segments/unused", json={"values": ["u8"]})  # named by nobody
    same = client.get("/sdk/config", headers={**HEADERS, "If-None-Match": etag})
    assert same.status_code == 304
    admin.patch("/segments/beta", json={"values": ["u1", "u2"]})
    changed = client.get("/sdk/config", headers={**HEADERS, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json["segments"]["beta"] == {"values": ["u1", "u2"]}
