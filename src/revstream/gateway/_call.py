"""An admitted request and its one finalizer.

`Call.finish(outcome)` is the only way a call ends, whatever ended it (the backend finished,
failed, or the client left). The first call decides the outcome and starts finalization as a
task of the worker, so a caller that is cancelled meanwhile cannot cut it short; every call
waits for it; later outcomes are ignored. Finalization:

1. the token counts: from the backend's `Finish` when generation completed, else from the
   meter once the backend has stopped (it may still be counting when the client leaves);
2. the usage record's final state: queued (`UsageWriter.finalize`), or, for an idempotent
   request, committed before the response goes out (`finalize_durably`), so a retry sent the
   moment this response arrives finds the stored outcome, never a request still running;
3. the rate-limit lease gives back what the request did not use (also if step 2 failed).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from ..backends import Finish, PreparedRequest, UsageMeter
from ..metering import FinalUsage, UsageStatus
from ..ratelimit import TokenLease
from ..store import StoredResponse
from ._auth import Principal
from ._state import AppState, ServedModel

log = logging.getLogger("revstream.gateway")
SETTLE_WAIT_S = 10.0
"""How long finalization waits for a backend to stop before recording what is known."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a call ended: the usage status, the backend's `Finish` when generation completed,
    an error code otherwise, and the response an idempotent retry will replay (on success)."""

    status: UsageStatus
    finish: Finish | None = None
    error_code: str | None = None
    response: StoredResponse | None = None


@dataclass(slots=True, eq=False)
class Call:
    """One admitted request on its way through the backend."""

    state: AppState
    served: ServedModel
    prepared: PreparedRequest
    principal: Principal
    request_id: str
    endpoint: str
    lease: TokenLease
    started_us: int
    # Rate-limit headers for the response.
    headers: dict[str, str] = field(default_factory=dict)
    # An idempotent request keeps its response for retries, and waits for its final commit.
    keeps_response: bool = False
    meter: UsageMeter = field(default_factory=UsageMeter)
    # Rows (table, values) to write with the final usage record, in its transaction: the
    # recitation events the guard found (issue 16), however the call ends.
    rows: list = field(default_factory=list)
    _finishing: asyncio.Task | None = field(default=None, init=False, repr=False)

    async def finish(self, outcome: Outcome) -> None:
        """End the call: the first outcome given is recorded, once; every call waits for it."""
        if self._finishing is None:
            self._finishing = self.state.spawn(self._finalize(outcome))
        await asyncio.shield(self._finishing)

    @property
    def finished(self) -> bool:
        return self._finishing is not None

    async def _finalize(self, outcome: Outcome) -> None:
        finish = outcome.finish or await self._counted()
        used = finish.tokens_prompt + finish.tokens_completion
        try:
            final = FinalUsage(
                request_id=self.request_id, status=outcome.status, tokens_prompt=finish.tokens_prompt,
                tokens_completion=finish.tokens_completion, usage_source=finish.usage_source,
                finalized_us=self.state.clock(), ttft_ms=self.meter.ttft_ms,
                duration_ms=max(0, self.state.clock() - self.started_us) // 1000, error_code=outcome.error_code,
            )
            response = outcome.response if outcome.status is UsageStatus.OK else None
            if self.keeps_response:
                await self.state.writer.finalize_durably(final, response, tuple(self.rows))
            else:
                self.state.writer.finalize(final, None, tuple(self.rows))
            self.state.metrics.observe_tokens(self.served.config.name, finish.tokens_prompt,
                                              finish.tokens_completion, self.meter.ttft_ms)
        finally:
            await self.lease.release(used)

    async def _counted(self) -> Finish:
        """The meter's counts once the backend has stopped (or SETTLE_WAIT_S passed)."""
        meter = self.meter
        try:
            await asyncio.wait_for(meter.settled.wait(), SETTLE_WAIT_S)
        except TimeoutError:
            log.warning("backend for %s did not stop within %ss; recording what is known", self.request_id, SETTLE_WAIT_S)
        count_locally = getattr(self.served.backend, "count_locally", None)
        if count_locally is not None and meter.usage_source == "backend" and meter.text_parts:
            count_locally(self.prepared, meter, "".join(meter.text_parts))
        return Finish("stop", meter.tokens_prompt, meter.tokens_completion, meter.usage_source)
