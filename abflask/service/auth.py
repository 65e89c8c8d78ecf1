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


def check_sdk_key() -> None:
    """Raise AuthError unless ``X-SDK-Key`` is one of ``ABFLASK_SDK_KEYS``.

    Every configured key is compared (in constant time), so the time taken
    does not tell which key came close.
    """
    keys = current_app.config["ABFLASK_SDK_KEYS"]
    if not keys:
        raise AuthError(
            "the SDK endpoints are disabled: set ABFLASK_SDK_KEYS", status=403
        )
    given = (request.headers.get("X-SDK-Key") or "").strip().encode()
    if not given:
        raise AuthError("missing X-SDK-Key header")
    matches = [hmac.compare_digest(given, key.encode()) for key in keys]
    if not any(matches):
        raise AuthError("wrong SDK key")


def require_admin(view: Callable[..., Any]) -> Callable[..., Any]:
    """View decorator: the request must carry the admin bearer token."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        check_admin()
        return view(*args, **kwargs)

    return wrapped
