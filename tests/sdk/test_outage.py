"""A Redis outage while the SDK exposes users: nothing enrolled or tracked is lost.

Before: ``/sdk/exposures`` answered 200 ``unavailable`` during the outage, the
SDK took the exposure as sent, the user was never enrolled, and every later
event was accepted with ``recorded: 0``. Now the SDK keeps an exposure
pending until a final answer and holds the user's events until then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from abflask.core.records import decode_record
from abflask.sdk.client import Client
from tests.helpers import PREFIX, SDK_KEY, Admin, Restartable, make_app

pytestmark = pytest.mark.slow


@pytest.fixture
def service(restartable: Restartable) -> Iterator[tuple[str, Admin]]:
    """The real app on its own Redis, over HTTP, and an admin client of it."""
    app = make_app(restartable.server.url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", Admin(app.test_client())
    server.shutdown()
    thread.join(5)


def records(restartable: Restartable) -> list[Any]:
    raw = restartable.server.client().lrange(f"{PREFIX}:x:{{exp}}:log", 0, -1)
    return [decode_record(r) for r in raw]


def test_a_redis_outage_during_exposures_loses_no_enrollment_and_no_event(
    restartable: Restartable, service: tuple[str, Admin]
) -> None:
    url, admin = service
    admin.experiment("exp", coverage=1.0, metrics=["buy"])
    sdk = Client(url, SDK_KEY, flush_interval=0.02, batch_size=20)
    users = [f"o{i}" for i in range(40)]

    restartable.stop()
    down_since = time.monotonic()
    for user in users:
        assert sdk.variation_detail("exp", user).in_experiment
        sdk.track("buy", user, value=1.0)
    time.sleep(max(0.0, 1.5 - (time.monotonic() - down_since)))
    assert sdk.dropped == 0
    restartable.start()

    assert sdk.flush(timeout=30)
    for user in users:  # after the outage: every event counts
        sdk.track("buy", user, value=2.0)
    assert sdk.flush(timeout=30)
    sdk.close(timeout=5)

    log = records(restartable)
    enrolled = {r.user for r in log if r.exposure}
    assert len([r for r in log if r.exposure]) == len(users)
    assert len(enrolled) == len(users)
    assert len([r for r in log if not r.exposure]) == 2 * len(users)
    assert (sdk.dropped, sdk.abandoned) == (0, 0)
