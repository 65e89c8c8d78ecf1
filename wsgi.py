"""WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

from __future__ import annotations

from abflask.service.app import create_app

app = create_app()
