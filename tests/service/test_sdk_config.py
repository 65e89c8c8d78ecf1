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
