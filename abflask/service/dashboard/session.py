"""Dashboard sessions: login by token, roles, the signed cookie and CSRF.

The session is Flask's signed cookie (``abflask_session``): HttpOnly,
SameSite=Lax, Secure when the request came over HTTPS, valid for
``LIFETIME``. It holds the role (``admin`` or ``viewer``), a fingerprint of
the token that logged in (so changing a token ends its sessions) and a
random CSRF token. Its key is ``ABFLASK_SECRET_KEY``, or else derived from
``ABFLASK_ADMIN_TOKEN``, so every gunicorn worker and every restart agrees.

Every POST to the dashboard must carry the session's CSRF token (form field
``csrf`` or header ``X-CSRF-Token``), and only admins may change anything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, g, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response as BaseResponse

ADMIN = "admin"
VIEWER = "viewer"
LIFETIME = timedelta(hours=12)
"""How long a login lasts."""
COOKIE = "abflask_session"
DERIVATION = b"abflask dashboard session key v1"
"""What the admin token signs to give the default session key."""
PUBLIC = frozenset({"dashboard.login", "dashboard.static", "dashboard.results_css"})
"""Endpoints that need no login (the login form and the assets)."""
CSRF_HEADER = "X-CSRF-Token"


class Sessions(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request is HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or request.is_secure)


def secret_key(settings: Mapping[str, Any]) -> str | None:
    """``ABFLASK_SECRET_KEY``, else one derived from the admin token, else None.

    HMAC-SHA256 keyed with the admin token: stable across workers and
    restarts, and the cookie's key reveals nothing about the token.
    """
    if settings.get("ABFLASK_SECRET_KEY"):
        return str(settings["ABFLASK_SECRET_KEY"])
    token = settings.get("ABFLASK_ADMIN_TOKEN")
    if not token:
        return None
    return hmac.new(str(token).encode(), DERIVATION, hashlib.sha256).hexdigest()


def configure(app: Flask) -> None:
    """Set the app's session key and cookie (called by the factory)."""
    app.secret_key = secret_key(app.config)
    app.session_interface = Sessions()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=LIFETIME,
    )


def enabled() -> bool:
    """Whether anyone can log in: a session key and at least one token."""
    cfg = current_app.config
    return bool(current_app.secret_key) and bool(
        cfg["ABFLASK_ADMIN_TOKEN"] or cfg["ABFLASK_VIEWER_TOKEN"]
    )


def _fingerprint(token: str) -> str:
    key = str(current_app.secret_key).encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:32]


def _tokens() -> dict[str, str]:
    cfg = current_app.config
    found = {ADMIN: cfg["ABFLASK_ADMIN_TOKEN"], VIEWER: cfg["ABFLASK_VIEWER_TOKEN"]}
    return {role: token for role, token in found.items() if token}


def role_for(given: str) -> str | None:
    """The role ``given`` logs in as; every token is compared in constant time."""
    matches = {
        role: hmac.compare_digest(given.strip().encode(), token.encode())
        for role, token in _tokens().items()
    }
    return next((role for role, ok in matches.items() if ok), None)


def log_in(role: str) -> None:
    """Start a fresh session for ``role`` with a new CSRF token."""
    session.clear()
    session.permanent = True
    session["role"] = role
    session["tok"] = _fingerprint(_tokens()[role])
    session["csrf"] = secrets.token_urlsafe(32)


def log_out() -> None:
    session.clear()


def current_role() -> str | None:
    """The logged-in role, if its token is still the configured one."""
    role, tok = session.get("role"), session.get("tok")
    token = _tokens().get(role) if isinstance(role, str) else None
    if token is None or not isinstance(tok, str):
        return None
    return role if hmac.compare_digest(tok, _fingerprint(token)) else None


def csrf_token() -> str:
    """The session's CSRF token (one is made for the login form if missing)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        if current_app.secret_key:
            session["csrf"] = token
    return token


def csrf_ok() -> bool:
    expected = session.get("csrf")
    given = request.form.get("csrf") or request.headers.get(CSRF_HEADER) or ""
    return isinstance(expected, str) and hmac.compare_digest(
        given.encode(), expected.encode()
    )


def _plain(message: str, status: int) -> Response:
    return Response(message + "\n", status, mimetype="text/plain")


def guard() -> BaseResponse | None:
    """Before every dashboard view: CSRF on POST, then login, then role.

    A POST without the session's CSRF token is refused (403) before any
    view runs, so it writes nothing. A page without a login redirects to
    the login form (``live.json`` answers 401); a viewer's action is 403.
    """
    endpoint = request.endpoint or ""
    if request.method == "POST" and not csrf_ok():
        return _plain(
            "Forbidden: this form has expired or did not come from the dashboard. "
            "Reload the page and try again.",
            403,
        )
    if endpoint in PUBLIC:
        return None
    role = current_role()
    if role is None:
        if endpoint == "dashboard.live":
            return _plain("Unauthorized: log in to the dashboard.", 401)
        target = request.full_path if request.method == "GET" else "/"
        answer = redirect("/login?next=" + quote(target.rstrip("?"), safe="/"), 303)
        answer.autocorrect_location_header = False
        return answer
    g.role = role
    view = current_app.view_functions.get(endpoint)
    if role != ADMIN and getattr(view, "admin_only", False):
        return _plain("Forbidden: the viewer login can look but not change.", 403)
    return None


def admin_only(view: Any) -> Any:
    """Mark a view as an admin action (the guard refuses viewers)."""
    view.admin_only = True
    return view


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else is ``/``."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    return target
