"""The dashboard: server-rendered pages over the same management code as the API.

``bp`` serves the experiment list (``/``), an experiment's page
(``/x/<key>``), the create and edit forms and every lifecycle action, flag
toggles (``/f/<key>``), login and logout, and its own CSS and JS under
``/assets/``. Pages need a session (``session``): the admin token logs in
with every action, ``ABFLASK_VIEWER_TOKEN`` read-only. Nothing here reads
Redis except through ``management`` and the Store's read methods.
"""

from __future__ import annotations

# Importing the views adds their routes to ``bp``.
from abflask.service.dashboard import views as views
from abflask.service.dashboard.blueprint import bp
from abflask.service.dashboard.session import configure

__all__ = ["bp", "configure"]
