"""Load test: realistic users of abflask, for Locust.

Each simulated user is new or returning, asks ``/process_user`` for one or
more experiments, then sends events one at a time (``/track``) and in batches
(``/track/batch``). Run it headless with ``make loadtest``, or by hand:

    locust -f scripts/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 100 -r 20 -t 60s --csv var/loadtest/abflask \\
        --experiments default --returning-share 0.7

Send load only to a service of your own (loopback or your test hosts).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from locust import FastHttpUser, between, events, task

RETURNING_POOL = 20_000
"""Distinct returning users shared by all simulated users."""


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument(
        "--experiments",
        default="default",
        help="comma-separated experiment keys each user asks for",
    )
    parser.add_argument(
        "--returning-share",
        type=float,
        default=0.7,
        help="share of users who were seen before (0-1)",
    )


class ABUser(FastHttpUser):
    """One visitor: assignment first, then a few events."""

    wait_time = between(0.05, 0.5)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.experiments = [k for k in options.experiments.split(",") if k]
        if random.random() < options.returning_share:
            self.user_id = f"returning-{random.randrange(RETURNING_POOL)}"
        else:
            self.user_id = f"new-{uuid.uuid4()}"
        self.assign()

    @task(10)
    def assign(self) -> None:
        for key in self.experiments:
            with self.client.get(
                f"/process_user?user_id={self.user_id}&experiment={key}",
                name="/process_user",
                catch_response=True,
            ) as response:
                if response.status_code != 200 or "variation" not in response.text:
                    response.failure(f"HTTP {response.status_code}")

    @task(3)
    def track(self) -> None:
        event: dict[str, Any] = {"user_id": self.user_id, "event": "view"}
        if random.random() < 0.2:
            event.update(event="purchase", value=round(random.uniform(5, 200), 2))
        self.client.post("/track", json=event, name="/track")

    @task(1)
    def track_batch(self) -> None:
        batch = [
            {
                "user_id": self.user_id,
                "event": random.choice(["view", "click"]),
                "event_id": uuid.uuid4().hex,
            }
            for _ in range(random.randint(5, 20))
        ]
        self.client.post("/track/batch", json={"events": batch}, name="/track/batch")
