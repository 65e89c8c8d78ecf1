"""How the async client reaches the service: an injectable coroutine function.

The default speaks keep-alive HTTP/1.1 over asyncio streams, stdlib only, so
``AsyncClient`` needs no extra package; an app that already has an async HTTP
library passes a few-line adapter as ``AsyncClient(transport=...)``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

AsyncTransport = Callable[
    [str, str, Mapping[str, str], bytes | None, float],
    Awaitable[tuple[int, Mapping[str, str], bytes]],
]
"""``async (method, url, headers, body, timeout) -> (status, headers, body)``."""

MAX_HEADER_LINES = 100
"""Header lines read from one answer before it is refused as malformed."""


class AsyncHTTPTransport:
    """Keep-alive HTTP/1.1 over asyncio streams: one connection, one request
    at a time (the client sends from one task). ``timeout`` bounds the whole
    request; a cancelled or timed-out request closes its connection."""

    def __init__(self) -> None:
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._netloc = ""
        self._lock: asyncio.Lock | None = None

    async def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                return await asyncio.wait_for(
                    self._request(method, url, headers, body), timeout
                )
            except BaseException:  # timeout, cancel, reset: never reuse it
                self.close()
                raise

    def close(self) -> None:
        """Close the kept-alive connection, if any."""
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body or b'')}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        for attempt in (1, 2):
            reused = self._conn is not None and self._netloc == parts.netloc
            if not reused:
                self.close()
                secure = parts.scheme == "https"
                self._conn = await asyncio.open_connection(
                    parts.hostname,
                    parts.port or (443 if secure else 80),
                    ssl=ssl.create_default_context() if secure else None,
                )
                self._netloc = parts.netloc
            assert self._conn is not None
            reader, writer = self._conn
            try:
                writer.write(request)
                await writer.drain()
                return await self._response(reader, method)
            except (OSError, asyncio.IncompleteReadError, EOFError):
                self.close()
                # A kept-alive connection the server has since closed: one
                # fresh try (event ids make a resent batch harmless).
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _response(
        self, reader: asyncio.StreamReader, method: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        status_line = await reader.readline()
        if not status_line:
            raise EOFError("the server closed the connection")
        version, status, *_ = status_line.decode("latin-1").split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1 answer: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        else:
            raise ValueError("too many header lines")
        lower = {k.lower(): v.lower() for k, v in headers.items()}
        code = int(status)
        if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
            data = b""
        elif "chunked" in lower.get("transfer-encoding", ""):
            data = await self._chunked(reader)
        elif "content-length" in lower:
            data = await reader.readexactly(int(lower["content-length"]))
        else:
            data = await reader.read()
            lower["connection"] = "close"
        if lower.get("connection") == "close" or version == "HTTP/1.0":
            self.close()
        return code, headers, data

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        data = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readline()).strip():
                    pass  # trailers
                return bytes(data)
            data += await reader.readexactly(size)
            await reader.readexactly(2)
