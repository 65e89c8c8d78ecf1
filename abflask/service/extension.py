"""The services the factory builds once per app, and how views and commands reach them.

Views, API blueprints and CLI commands import this leaf module, never the
factory module, so no import cycle can form between the app and its parts.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from abflask.service.definitions import AssignmentCache, Definitions
from abflask.storage.store import Store

EXTENSION = "abflask"
"""The key of the services in ``app.extensions``."""


@dataclass(frozen=True)
class Services:
    """What the views need, built once per app: ``app.extensions["abflask"]``."""

    store: Store
    definitions: Definitions
    assignments: AssignmentCache


def get_services() -> Services:
    """The current app's services (needs an app context)."""
    found: Services = current_app.extensions[EXTENSION]
    return found
