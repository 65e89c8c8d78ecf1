"""Admin bearer-token check, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, request

from abflask.errors import AuthError


def check_bearer(header: str | None, token: str | None) -> None:
    """Raise AuthError unless ``header`` is ``Bearer <token>``.

    With no token configured the admin API is disabled (403), never open.
    """
    if not token:
        raise AuthError(
            "the admin API is disabled: set ABFLASK_ADMIN_TOKEN", status=403
        )
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise AuthError("missing Authorization: Bearer <admin token> header")
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise AuthError("wrong admin token")


def check_admin() -> None:
    """Raise AuthError unless the current request carries the admin token."""
    check_bearer(
        request.headers.get("Authorization"),
        current_app.config["ABFLASK_ADMIN_TOKEN"],
    )


def require_admin(view: Callable[..., Any]) -> Callable[..., Any]:
    """View decorator: the request must carry the admin bearer token."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    return wrapped
