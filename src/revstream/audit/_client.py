"""A small client for a host's transparency endpoints (one keep-alive connection)."""

from __future__ import annotations

import base64
import http.client
import queue
import ssl
import threading
from collections.abc import Iterator
from urllib.parse import quote, urlencode, urlsplit

import orjson

from ._errors import AuditError, HostError

ENTRIES_PAGE_MAX = 10_000
"""Entries asked for per request (the host may answer fewer; the client asks again)."""
PREFETCH_PAGES = 2
"""Pages fetched ahead of the verifier's hashing (each up to ENTRIES_PAGE_MAX entries)."""
REQUEST_TIMEOUT_S = 60.0


class TransparencyClient:
    """Reads ``/transparency/*`` from ``base_url`` with a licensor (or admin) token."""

    def __init__(self, base_url: str, token: str | None) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HostError(f"--host must be an http(s) URL such as http://127.0.0.1:8000, got {base_url!r}")
        self._parts = parts
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            parts = self._parts
            if parts.scheme == "https":
                self._connection = http.client.HTTPSConnection(
                    parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S, context=ssl.create_default_context())
            else:
                self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _get(self, path: str, **query: int) -> bytes:
        target = f"{self._parts.path}/transparency/{path}" + (f"?{urlencode(query)}" if query else "")
        for attempt in (1, 2):  # a keep-alive connection the host closed is reopened once
            try:
                connection = self._connect()
                connection.request("GET", target, headers=self._headers)
                response = connection.getresponse()
                body = response.read()
                break
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if attempt == 2:
                    raise HostError(f"cannot reach {self._parts.geturl()}: {error}") from None
        if response.status in (401, 403):
            raise HostError(f"the host refused the token for /transparency/{path} ({response.status}): "
                            f"{_message(body)}; pass a licensor token with --token or REVSTREAM_LICENSOR_TOKEN")
        if response.status != 200:
            # The host could not serve part of its own log (a missing record, a bad range):
            # that is a failure of the statement's evidence, not of the network.
            raise AuditError(f"the host answered {response.status} to /transparency/{path}"
                             f"{'?' + urlencode(query) if query else ''}: {_message(body)}")
        return body

    def _json(self, path: str, **query: int) -> dict:
        try:
            value = orjson.loads(self._get(path, **query))
        except orjson.JSONDecodeError:
            raise HostError(f"/transparency/{path} did not answer JSON") from None
        if not isinstance(value, dict):
            raise HostError(f"/transparency/{path} did not answer a JSON object")
        return value

    @property
    def url(self) -> str:
        return self._parts.geturl()

    def checkpoint(self) -> str:
        return self._get("checkpoint").decode("utf-8", "replace")

    def statements(self) -> list[dict]:
        """The statements the token may read (`GET /transparency/statements`), as the host lists them."""
        listed = self._json("statements").get("statements")
        if not isinstance(listed, list) or not all(isinstance(item, dict) for item in listed):
            raise HostError("/transparency/statements did not answer a list of statements")
        return listed

    def statement_note(self, statement_id: str) -> str:
        """One statement as its signed note (`GET /transparency/statements/ID`)."""
        return self._get(f"statements/{quote(statement_id, safe='')}").decode("utf-8", "replace")

    def consistency(self, old: int, new: int) -> tuple[bytes, ...]:
        return _hashes(self._json("proof/consistency", old=old, new=new))

    def inclusion(self, index: int, size: int) -> tuple[bytes, ...]:
        return _hashes(self._json("proof/inclusion", index=index, size=size))

    def prefix(self, start: int) -> tuple[bytes, ...]:
        return _hashes(self._json("prefix", start=start))

    def entries(self, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        """Pages of leaf data ``(first index, leaves)`` covering ``[start, end)``.

        A helper thread with its own connection fetches up to ``PREFETCH_PAGES`` pages
        ahead, so the host's work and the network overlap the caller's hashing."""
        pages: queue.Queue = queue.Queue(maxsize=PREFETCH_PAGES)
        stop = threading.Event()

        def fetch() -> None:
            fetcher = TransparencyClient(self._parts.geturl(), None)
            fetcher._headers = self._headers
            try:
                for page in fetcher._pages(start, end):
                    while not stop.is_set():
                        try:
                            pages.put(page, timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                pages.put(None)
            except (AuditError, HostError) as error:
                pages.put(error)
            finally:
                fetcher.close()

        thread = threading.Thread(target=fetch, name="revstream-verify-fetch", daemon=True)
        thread.start()
        try:
            while (page := pages.get()) is not None:
                if isinstance(page, Exception):
                    raise page
                yield page
        finally:
            stop.set()
            thread.join()

    def _pages(self, start: int, end: int) -> Iterator[tuple[int, list[bytes]]]:
        while start < end:
            value = self._json("entries", start=start, end=min(end, start + ENTRIES_PAGE_MAX))
            leaves = [_b64(item) for item in value.get("entries") or []]
            if value.get("start") != start or not leaves:
                raise AuditError(f"the host answered no entries from index {start} (asked up to {end})")
            yield start, leaves
            start += len(leaves)


def _message(body: bytes) -> str:
    try:
        return str(orjson.loads(body)["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")


def _b64(text: object) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise AuditError("the host sent a value that is not base64") from None


def _hashes(value: dict) -> tuple[bytes, ...]:
    hashes = value.get("hashes")
    if not isinstance(hashes, list):
        raise AuditError("the host's proof has no 'hashes' list")
    return tuple(_b64(item) for item in hashes)
