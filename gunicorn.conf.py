"""Production gunicorn settings: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Values come from the ABFLASK_* environment variables (see abflask/config.py).
"""

from __future__ import annotations

import gc
import json
import signal
from typing import Any

import abflask.config

_settings = abflask.config.load()

bind = _settings["ABFLASK_BIND"]
workers = _settings["ABFLASK_WORKERS"]
# gevent (the default): a connection costs a greenlet, not a worker, so slow
# clients (slowloris: 50 sockets trickling a byte a second) cannot take every
# worker; sync workers each stopped for 30 s on one such socket. Each worker
# holds up to ``worker_connections`` connections. ``sync`` (ABFLASK_WORKER_CLASS)
# serves one request per process at a time: a lower tail latency under load
# (p99 ~10 ms against ~36 ms at 32 keep-alive connections, bench_http.py), safe
# only behind a reverse proxy that buffers whole requests.
worker_class = _settings["ABFLASK_WORKER_CLASS"]
worker_connections = 1000
# With keepalive on, the gevent worker reads each request's line and headers
# under a deadline of ``keepalive`` seconds: a client that has not sent them
# by then is disconnected, so trickled headers hold nothing for long.
keepalive = 5
# A worker whose loop is stuck for 30 s (a request takes about a millisecond)
# is broken and gets replaced.
timeout = 30
graceful_timeout = 20
# gunicorn answers these itself, before the app: keep them above everything
# the app checks (a 256-character user id percent-encoded as 4-byte UTF-8 is
# about 3 KB of request line), so a mistaken request gets the app's own JSON
# 400 naming the field, and only absurd ones get gunicorn's 414 / 431 / 400
# (made JSON too by ``post_worker_init``).
limit_request_line = 8190  # the largest gunicorn allows
limit_request_fields = 100
limit_request_field_size = 8190
loglevel = _settings["ABFLASK_LOG_LEVEL"]
errorlog = "-"
accesslog = None  # per-request logging costs throughput; use the LB's logs
proc_name = "abflask"
# gunicorn's runtime control socket defaults to one shared path in $HOME, so
# two services on one host would clash; abflask needs none.
control_socket_disable = True
# Each worker builds its own app: nothing is shared with the master.
preload_app = False


def post_fork(server: Any, worker: Any) -> None:
    """Give the worker fresh Redis connections of its own.

    Only matters with ``preload_app = True``, where the master built the app
    before forking; the app opens no connection before a request anyway, and
    redis-py's pool also notices a changed pid. The app is not loaded here
    when it is not preloaded: until ``init_process`` installs the worker's
    signal handlers a slow hook would make the worker miss a TERM.
    """
    # Until ``init_process`` installs the worker's own handlers, the child
    # still has the master's, which only queue a signal for a loop that is not
    # running here: a TERM sent while the worker boots (gevent's monkey
    # patching takes a while) was lost, and shutdown hung for the graceful
    # timeout. The default actions make a booting worker simply exit.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    # Apps embedding the abflask SDK need nothing here either: the client
    # resets itself in each child (see the README, "Forking servers").
    app = getattr(worker.app, "callable", None)
    services = app.extensions.get("abflask") if app is not None else None
    if services is not None:
        services.store.reset_connections()


def post_worker_init(worker: Any) -> None:
    """Make the worker's own error pages JSON, like the app's, and take the
    loaded app's objects out of the garbage collector's sight."""
    from gunicorn import util

    util.write_error = write_json_error
    # The modules, templates and scripts loaded so far live as long as the
    # worker: frozen, a full collection no longer walks them, which took
    # milliseconds out of the slowest requests.
    gc.freeze()


def write_json_error(sock: Any, status: int, reason: str, message: str) -> None:
    """gunicorn's error page (request line, headers, chunking) as JSON.

    Replaces ``gunicorn.util.write_error`` in each worker: same arguments,
    same ``Connection: close``, a body ``{"error", "message"}`` like the
    app's own errors.
    """
    from gunicorn import util

    code = reason.lower().replace(" ", "_")
    body = json.dumps({"error": code, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)
