"""How the SDK reaches the service: one injectable callable, stdlib HTTP by default.

Tests and apps with their own HTTP stack pass any ``Transport`` to
``Client(transport=...)``.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

Transport = Callable[
    [str, str, Mapping[str, str], bytes | None, float],
    tuple[int, Mapping[str, str], bytes],
]
"""``(method, url, headers, body, timeout) -> (status, headers, body)``."""


class HTTPTransport:
    """Keep-alive HTTP/1.1 with the stdlib, one connection per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
            reused = conn is not None and self._local.host == parts.netloc
            if conn is None or not reused:
                kind = (
                    http.client.HTTPSConnection
                    if parts.scheme == "https"
                    else http.client.HTTPConnection
                )
                conn = kind(parts.netloc, timeout=timeout)
                self._local.conn, self._local.host = conn, parts.netloc
            # Each call gets its own time: a reused connection keeps the
            # timeout it was opened with otherwise (close() passes what is left).
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, body=body, headers=dict(headers))
                response = conn.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                # A kept-alive connection the server has since closed: one
                # fresh try (event ids make a resent batch harmless).
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")
