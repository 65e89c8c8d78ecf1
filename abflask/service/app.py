"""The application factory: config → Store → services → blueprints → error handlers.

Also the ``abflask`` console script (``main``): Flask's command line over this
factory. Building the app opens no connection (gunicorn may fork after
import); Redis is first contacted by the first request or command that needs
it. Nothing imports this module but ``wsgi.py``, the tests and the console
script: views and commands reach the services through ``extension``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.cli import FlaskGroup

from abflask import config
from abflask.service import cli, dashboard, handlers
from abflask.service.api import admin, assign, events, ops, sdk, segments
from abflask.service.definitions import AssignmentCache, Definitions
from abflask.service.extension import EXTENSION, Services
from abflask.storage import localredis
from abflask.storage.store import Store

BLUEPRINTS = (
    assign.bp,
    events.bp,
    admin.bp,
    segments.bp,
    sdk.bp,
    ops.bp,
    dashboard.bp,
)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the service: defaults, then the environment or ``test_config``.

    From the environment without ``REDIS_URL``, the app uses the private
    Redis of a running ``make run`` if there is one (``localredis.resolve_url``),
    so ``abflask`` and ``flask`` commands reach the data the service serves.
    """
    app = Flask(__name__)
    app.config.from_mapping(config.DEFAULTS)
    if test_config is None:
        settings = config.load()
        settings["REDIS_URL"] = localredis.resolve_url(
            settings, config.redis_url_is_set()
        )
        app.config.update(settings)
    else:
        app.config.update(test_config)
    app.config["MAX_CONTENT_LENGTH"] = app.config["ABFLASK_MAX_REQUEST_BYTES"]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    store = Store.from_url(
        app.config["REDIS_URL"],
        prefix=app.config["ABFLASK_KEY_PREFIX"],
        timeout=app.config["ABFLASK_REDIS_TIMEOUT"],
    )
    definitions = Definitions(
        store,
        ttl=app.config["ABFLASK_CONFIG_TTL"],
        default_key=app.config["ABFLASK_DEFAULT_EXPERIMENT"],
    )
    assignments = AssignmentCache(app.config["ABFLASK_ASSIGNMENT_CACHE"])
    app.extensions[EXTENSION] = Services(store, definitions, assignments)

    dashboard.configure(app)  # the session cookie: key, flags, lifetime
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    handlers.register(app)
    cli.register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """The ``abflask`` console script: the app's commands (``abflask --help``).

    The same commands as ``flask --app wsgi ...``; exits with their status.
    """
    group = FlaskGroup(
        create_app=create_app,
        help="Manage abflask's experiments and flags, and run the analysis job.",
    )
    group.main(args=argv, prog_name="abflask")
