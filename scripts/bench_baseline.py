"""The baseline of ``bench_http.py``: a bare Flask JSON endpoint, nothing else.

Served by gunicorn with the service's own ``gunicorn.conf.py``, so the ratio
compares abflask's work with the cost of Flask and gunicorn alone.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

app = Flask(__name__)


@app.route("/process_user", methods=["GET", "POST"])
def process_user() -> dict[str, Any]:
    """Echo the user with a fixed variation, as cheaply as Flask allows."""
    return {"user_id": request.args.get("user_id"), "variation": "control"}


@app.post("/track/batch")
def track_batch() -> tuple[dict[str, Any], int]:
    """Parse the JSON body and count it; store nothing."""
    body = request.get_json(force=True)
    return {"accepted": len(body["events"])}, 202
