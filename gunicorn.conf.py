"""Production gunicorn settings: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Values come from the ABFLASK_* environment variables (see abflask/config.py).
"""

from __future__ import annotations

from typing import Any

import abflask.config

_settings = abflask.config.load()

bind = _settings["ABFLASK_BIND"]
workers = _settings["ABFLASK_WORKERS"]
worker_class = "sync"
# Sync workers serve one request at a time; a request should take about a
# millisecond, so a worker stuck for 30 s is broken and gets replaced.
timeout = 30
graceful_timeout = 20
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
    # Apps embedding the abflask SDK need nothing here either: the client
    # resets itself in each child (see the README, "Forking servers").
    app = getattr(worker.app, "callable", None)
    services = app.extensions.get("abflask") if app is not None else None
    if services is not None:
        services.store.reset_connections()
