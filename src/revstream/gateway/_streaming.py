"""Server-sent events for streamed completions, as a small ASGI response.

It sends each backend event as it comes and watches the connection at the same
time: when the client goes away, generation is cancelled at once and the usage
record is finalized as `aborted` with the tokens generated so far.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, AsyncIterator

from ..backends import BackendError, Event, Finish
from ..metering import STATUS_ABORTED, STATUS_ERROR, STATUS_OK
from ..store import StoredResponse
from ._errors import from_backend, internal
from ._responses import ResponseBuilder, error_chunk

if TYPE_CHECKING:
    from ._pipeline import Call

log = logging.getLogger("revstream.gateway")
EVENT_STREAM = "text/event-stream; charset=utf-8"


async def wait_for_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class EventStreamResponse:
    def __init__(self, call: "Call", builder: ResponseBuilder, first: Event, events: AsyncIterator[Event]) -> None:
        self.call = call
        self.builder = builder
        self.first = first
        self.events = events
        # Kept only for an idempotent request, whose retry replays the same stream.
        self.sent: list[bytes] | None = [] if call.keeps_response else None

    async def __call__(self, scope, receive, send) -> None:
        headers = [
            (b"content-type", EVENT_STREAM.encode()),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *((name.encode(), value.encode()) for name, value in self.call.headers.items()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        producer = asyncio.ensure_future(self._produce(send))
        watcher = asyncio.ensure_future(wait_for_disconnect(receive))
        try:
            await asyncio.wait((producer, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not producer.done():
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)
                self.call.finalize(STATUS_ABORTED, error_code="client_disconnected")
            watcher.cancel()
        if producer.done() and not producer.cancelled() and producer.exception() is not None:
            log.error("stream %s failed", self.call.request_id, exc_info=producer.exception())

    async def _produce(self, send) -> None:
        call, builder = self.call, self.builder
        try:
            await self._send(send, builder.first_chunk())
            event = self.first
            while True:
                if isinstance(event, Finish):
                    tail = builder.finish_chunks(event)
                    stored = StoredResponse(200, EVENT_STREAM, b"".join(self.sent or ()) + tail)
                    await call.close(STATUS_OK, event, response=stored)
                    await self._send(send, tail, more=False)
                    return
                await self._send(send, builder.text_chunk(event.text))
                event = await self.events.__anext__()
        except BackendError as error:
            await call.close(STATUS_ERROR, error_code=error.code)
            await self._send(send, error_chunk(from_backend(error).body()), more=False)
        except StopAsyncIteration:
            await call.close(STATUS_ERROR, error_code="backend_ended_early")
            await self._send(send, error_chunk(internal(call.request_id).body()), more=False)
        except OSError:  # the socket broke while we wrote: the client is gone
            call.finalize(STATUS_ABORTED, error_code="client_disconnected")
        except Exception:
            call.finalize(STATUS_ERROR, error_code="internal_error")
            raise
        finally:
            await self.events.aclose()

    async def _send(self, send, body: bytes, more: bool = True) -> None:
        if self.sent is not None and more:
            self.sent.append(body)
        if body or not more:
            await send({"type": "http.response.body", "body": body, "more_body": more})
