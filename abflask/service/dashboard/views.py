"""The dashboard's pages and actions: parse the form → one call → render or redirect.

Pages read through ``present``; every action is one ``management`` call, the
code path of the admin API and the CLI, so the dashboard validates exactly as
they do. Actions answer with a redirect (303) to the page that shows their
effect; a form the API rejects is shown again with the error next to its field
(400, 409), having written nothing. ``session.guard`` runs first: CSRF,
login, role.
"""

from __future__ import annotations

import time
from typing import Any

from flask import g, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from abflask.core.fields import fail
from abflask.core.render import style
from abflask.errors import (
    AbflaskError,
    ConflictError,
    StorageUnavailable,
    ValidationError,
)
from abflask.service import management
from abflask.service.dashboard import forms, present, session
from abflask.service.dashboard.blueprint import bp
from abflask.service.dashboard.format import FILTERS
from abflask.service.extension import get_services
from abflask.service.handlers import UNAVAILABLE

bp.before_request(session.guard)
for _name, _filter in FILTERS.items():
    bp.add_app_template_filter(_filter, _name)


@bp.context_processor
def _context() -> dict[str, Any]:
    return {
        "csrf_token": session.csrf_token(),
        "role": g.get("role"),
    }


@bp.errorhandler(AbflaskError)
def _error(exc: AbflaskError) -> ResponseReturnValue:
    headers = {}
    message = exc.message
    if isinstance(exc, StorageUnavailable):
        message, headers = UNAVAILABLE, {"Retry-After": "1"}
    if request.endpoint == "dashboard.live":
        return {"error": exc.code, "message": message}, exc.status, headers
    page = render_template("dashboard/error.html", error=exc, message=message)
    return page, exc.status, headers


def _see(path: str) -> ResponseReturnValue:
    answer = redirect(path, 303)
    answer.autocorrect_location_header = False
    return answer


# -- login --------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; a good token starts a session, a bad one is a 401."""
    target = session.safe_next(request.values.get("next"))
    if request.method == "GET":
        if session.current_role() is not None:
            return _see(target)
        return render_template(
            "dashboard/login.html", next=target, enabled=session.enabled()
        )
    role = session.role_for(request.form.get("token", ""))
    if role is None:
        page = render_template(
            "dashboard/login.html",
            next=target,
            enabled=session.enabled(),
            error="That token is not the admin or the viewer token.",
        )
        return page, 401
    session.log_in(role)
    return _see(target)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    session.log_out()
    return _see("/login")


# -- pages --------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    """Every experiment and flag."""
    svc = get_services()
    rows, flags = present.overview(svc, time.time())
    experiments = [row.experiment for row in rows]
    segments = present.segments(svc, experiments, flags)
    return render_template(
        "dashboard/list.html", rows=rows, flags=flags, segments=segments
    )


def _phase() -> int | None:
    """The ``phase`` query parameter: a phase index, or None when absent."""
    raw = request.args.get("phase")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 6:
        raise fail("phase", "must be a phase index: 0 for the first phase")
    return int(raw)


@bp.get("/x/<key>")
def experiment(key: str) -> str:
    """One experiment: its phase, live participants and its results."""
    page = present.experiment_page(get_services(), key, _phase(), time.time())
    return render_template(
        "dashboard/experiment.html", page=page, results=Markup(page.results.html)
    )


@bp.get("/x/<key>/results.html")
def results(key: str) -> ResponseReturnValue:
    """The experiment page's results section alone, for its script to swap in."""
    svc = get_services()
    exp = management.get_experiment(svc, key)
    section = present.results(svc, exp, _phase(), time.time())
    return section.html, 200, {"Cache-Control": "no-store"}


@bp.get("/assets/results.css")
def results_css() -> ResponseReturnValue:
    """The CSS of the results section (``abflask.core.render.style``)."""
    answer = make_response(style.CSS)
    answer.mimetype = "text/css"
    answer.add_etag()
    return answer.make_conditional(request)


@bp.get("/x/<key>/live.json")
def live(key: str) -> dict[str, Any]:
    """Live participants per variation, for the page's polling script."""
    return present.live(get_services(), key)


# -- create and edit ----------------------------------------------------------


def _form_page(
    template: str, error: AbflaskError | None, **context: Any
) -> ResponseReturnValue:
    """A form page, with ``error`` next to its field (its status) or none (200)."""
    field = forms.form_field(error.field) if isinstance(error, ValidationError) else ""
    page = render_template(template, error=error, error_field=field, **context)
    return page, error.status if error else 200


def _form(
    values: Any, exp: Any = None, error: AbflaskError | None = None
) -> ResponseReturnValue:
    return _form_page(
        "dashboard/form.html",
        error,
        values=values,
        exp=exp,
        fields=forms.EXPERIMENT_FORM,
        locked=forms.locked(exp),
    )


@session.admin_only
@bp.route("/x/new", methods=["GET", "POST"])
def new_experiment() -> ResponseReturnValue:
    """The create form; saving makes a draft through the API's validation."""
    if request.method == "GET":
        return _form({})
    try:
        body = forms.experiment_body(request.form)
        created = management.create_experiment(get_services(), body, time.time())
    except (ValidationError, ConflictError) as exc:
        return _form(request.form, error=exc)
    return _see(f"/x/{created.key}")


@session.admin_only
@bp.route("/x/<key>/edit", methods=["GET", "POST"])
def edit_experiment(key: str) -> ResponseReturnValue:
    """The edit form; only changed fields are sent, as a PATCH would."""
    svc = get_services()
    exp = management.get_experiment(svc, key)
    if request.method == "GET":
        return _form(present.form_values(exp), exp)
    try:
        body = forms.patch_body(request.form, exp)
        management.patch_experiment(svc, key, body, time.time())
    except (ValidationError, ConflictError) as exc:
        return _form({**present.form_values(exp), **request.form}, exp, exc)
    return _see(f"/x/{exp.key}")


# -- lifecycle actions --------------------------------------------------------


@session.admin_only
@bp.post("/x/<key>/start")
def start(key: str) -> ResponseReturnValue:
    management.start_experiment(get_services(), key, time.time())
    return _see(f"/x/{key}")


@session.admin_only
@bp.post("/x/<key>/stop")
def stop(key: str) -> ResponseReturnValue:
    management.stop_experiment(get_services(), key, time.time())
    return _see(f"/x/{key}")


@session.admin_only
@bp.post("/x/<key>/complete")
def complete(key: str) -> ResponseReturnValue:
    winner = request.form.get("winner")
    management.complete_experiment(get_services(), key, winner, time.time())
    return _see(f"/x/{key}")


@session.admin_only
@bp.post("/x/<key>/phase")
def new_phase(key: str) -> ResponseReturnValue:
    body = forms.weights_body(request.form)
    management.new_phase(get_services(), key, body, time.time())
    return _see(f"/x/{key}")


@session.admin_only
@bp.post("/x/<key>/delete")
def delete(key: str) -> ResponseReturnValue:
    if request.form.get("confirm", "").strip() != key:
        raise fail("confirm", f"type the experiment's key ({key}) to delete it")
    management.delete_experiment(get_services(), key)
    return _see("/")


@session.admin_only
@bp.post("/f/<key>")
def flag(key: str) -> ResponseReturnValue:
    """Turn a flag on or off, or set its rollout (a percentage)."""
    body = forms.flag_body(request.form)
    management.patch_flag(get_services(), key, body, time.time())
    return _see(f"/#flag-{key}")


# -- segments -------------------------------------------------------------------


def _segment_form(
    values: Any, segment: Any = None, error: AbflaskError | None = None
) -> ResponseReturnValue:
    return _form_page(
        "dashboard/segment.html",
        error,
        values=values,
        segment=segment,
        kind=segment.kind if segment else _kind(values.get("kind")),
    )


def _kind(raw: str | None) -> str:
    return "condition" if raw == "condition" else "list"


@session.admin_only
@bp.route("/s/new", methods=["GET", "POST"])
def new_segment() -> ResponseReturnValue:
    """The create form: a list of user ids or a condition."""
    if request.method == "GET":
        return _segment_form({"kind": request.args.get("kind", "list")})
    try:
        body = forms.segment_body(request.form, _kind(request.form.get("kind")))
        management.create_segment(get_services(), body, time.time())
    except (ValidationError, ConflictError) as exc:
        return _segment_form(request.form, error=exc)
    return _see("/#segments")


@session.admin_only
@bp.route("/s/<key>/edit", methods=["GET", "POST"])
def edit_segment(key: str) -> ResponseReturnValue:
    """The edit form: description and values or condition (not the kind)."""
    svc = get_services()
    segment = management.get_segment(svc, key)
    if request.method == "GET":
        return _segment_form(present.segment_values(segment), segment)
    try:
        body = forms.segment_body(request.form, segment.kind)
        body.pop("key", None)
        management.patch_segment(svc, key, body, time.time())
    except (ValidationError, ConflictError) as exc:
        values = {**present.segment_values(segment), **request.form}
        return _segment_form(values, segment, exc)
    return _see("/#segments")


@session.admin_only
@bp.post("/s/<key>/delete")
def delete_segment(key: str) -> ResponseReturnValue:
    """Delete after the key is typed; a segment in use is a 409 naming its users."""
    if request.form.get("confirm", "").strip() != key:
        raise fail("confirm", f"type the segment's key ({key}) to delete it")
    management.delete_segment(get_services(), key)
    return _see("/#segments")
