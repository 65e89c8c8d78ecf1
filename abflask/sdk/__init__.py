"""The Python SDK: decide in-process from a configuration snapshot, report later.

Installable alone (``pip install abflask[sdk]``): imports the standard library,
``abflask.core`` and ``abflask.errors`` only; never Flask, redis, numpy or
pandas, and nothing of the service. ``Client`` reports from a thread,
``AsyncClient`` from an asyncio task; both decide alike.
"""

from __future__ import annotations

from abflask.sdk.async_client import AsyncClient
from abflask.sdk.client import Client, Decision, Reason, User

__all__ = ["AsyncClient", "Client", "Decision", "Reason", "User"]
