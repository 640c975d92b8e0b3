"""Server-sent events for streamed completions, as a small ASGI response.

It relays each backend event as it comes and watches the connection at the same time: when
the client goes away, generation is cancelled at once and the call is finished as `aborted`
with the tokens generated so far. However the stream ends, the backend's iterator is closed
first (so the backend stops and its counts are final), then the call is finished once
(`Call.finish`), then the last bytes are sent: a retry of an idempotent request that arrives
the moment the stream ends finds its stored outcome.
"""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from ..backends import BackendError, Event, Finish
from ..metering import UsageStatus
from ..store import StoredResponse
from ._call import Call, Outcome
from ._errors import from_backend, internal
from ._responses import ResponseBuilder, error_chunk

log = logging.getLogger("revstream.gateway")
EVENT_STREAM = "text/event-stream; charset=utf-8"


async def wait_for_disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


CLIENT_LEFT = Outcome(UsageStatus.ABORTED, error_code="client_disconnected")


class EventStreamResponse:
    def __init__(self, call: Call, builder: ResponseBuilder, first: Event, events: AsyncIterator[Event],
                 ads=None) -> None:
        self.call = call
        # ads (issue 13): the request's `AdRequest` (None: no ad), and the ad placed after the answer
        self.ads = ads
        self.placed = None
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
            watcher.cancel()
            # A no-op when the producer finished the call; else the client left first.
            await self.call.finish(CLIENT_LEFT)
            if self.placed is not None:  # ads (issue 13): charged if its chunk went out, else given back
                await self.call.state.run_to_end(self.placed.settle(producer.done() and not producer.cancelled()
                                                                    and producer.exception() is None))
        if producer.done() and not producer.cancelled() and producer.exception() is not None:
            log.error("stream %s failed", self.call.request_id, exc_info=producer.exception())

    async def _produce(self, send) -> None:
        try:
            try:
                outcome, last = await self._relay(send)
            finally:
                await self.events.aclose()  # the backend stops before its tokens are counted
        except Exception:
            await self.call.finish(Outcome(UsageStatus.ERROR, error_code="internal_error"))
            raise
        await self.call.finish(outcome)
        if last is not None:
            await self._send(send, last, more=False)

    async def _relay(self, send) -> tuple[Outcome, bytes | None]:
        """Send events until the stream ends; returns how it ended and the last bytes to send."""
        call, builder = self.call, self.builder
        try:
            await self._send(send, builder.first_chunk())
            event = self.first
            answer: list[str] = []
            while not isinstance(event, Finish):
                await self._send(send, builder.text_chunk(event.text))
                answer.append(event.text)
                event = await anext(self.events)
        except BackendError as error:
            return Outcome(UsageStatus.ERROR, error_code=error.code), error_chunk(from_backend(error).body())
        except StopAsyncIteration:
            failed = Outcome(UsageStatus.ERROR, error_code="backend_ended_early")
            return failed, error_chunk(internal(call.request_id).body())
        except OSError:  # the socket broke while we wrote: the client is gone
            return CLIENT_LEFT, None
        self.placed = await self.ads.place("".join(answer)) if self.ads is not None else None  # ads (issue 13)
        tail = builder.finish_chunks(event, self.placed.sponsored if self.placed else None)
        stored = StoredResponse(200, EVENT_STREAM, b"".join(self.sent or ()) + tail)
        return Outcome(UsageStatus.OK, event, response=stored), tail

    async def _send(self, send, body: bytes, more: bool = True) -> None:
        if self.sent is not None and more:
            self.sent.append(body)
        if body or not more:
            await send({"type": "http.response.body", "body": body, "more_body": more})
