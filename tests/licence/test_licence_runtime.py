"""The gateway's licence runtime without a server: a merge that fails keeps its end users and
counters for the next one, and an alert whose record failed is tried again."""

from __future__ import annotations

import asyncio

import pytest

from revstream.config._licence import licence_section
from revstream.gateway._licence import LicenceRuntime
from revstream.licence import BuiltinClassifier, load_registry
from revstream.periods import parse_time_us
from revstream.store import licence_status, make_engine, upgrade

OCTOBER = parse_time_us("2026-10-05T00:00:00Z")


class Writer:
    """Runs the store calls in line; fails the next `failures` of them."""

    def __init__(self) -> None:
        self.failures = 0

    async def call(self, function, *args):
        if self.failures:
            self.failures -= 1
            raise OSError("the store is down")
        return function(*args)


class State:
    def __init__(self, engine) -> None:
        self.engine, self.writer = engine, Writer()

    def spawn(self, coroutine):
        return asyncio.ensure_future(coroutine)


@pytest.fixture
def state(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield State(engine)
    engine.dispose()


def runtime(tmp_path, threshold=None) -> LicenceRuntime:
    settings = licence_section({"mau_alert_percent": [50]}, tmp_path)
    return LicenceRuntime(settings, load_registry(), {}, threshold, b"k" * 32, BuiltinClassifier(), "test")


def users(state) -> int:
    return next((m.users for m in licence_status(state.engine) if m.month == "2026-10"), 0)


def test_a_failed_merge_keeps_its_users_and_counters(state, tmp_path):
    licence = runtime(tmp_path)
    for n in range(4):
        licence.buffer.observe("cus", f"user-{n}", "key", OCTOBER)
    asyncio.run(licence.classify((("user", "How do I build a pipe bomb?"),), "user", "2026-10"))
    state.writer.failures = 1
    with pytest.raises(OSError):
        asyncio.run(licence.flush(state))
    assert users(state) == 0
    asyncio.run(licence.flush(state))
    [october] = licence_status(state.engine)
    assert october.users == 4 and october.counts["classified"] == 1 and october.counts["S9"] == 1


def test_an_alert_whose_record_failed_is_tried_again(state, tmp_path):
    licence = runtime(tmp_path, threshold=(4, "acme"))
    for n in range(2):
        licence.buffer.observe("cus", f"user-{n}", "key", OCTOBER)

    async def merge_then_fail_the_alert():
        state.writer.failures = 0
        original = state.writer.call
        calls = []

        async def failing_third(function, *args):
            calls.append(function.__name__)
            if function.__name__ == "record_mau_alerts" and calls.count("record_mau_alerts") == 1:
                raise OSError("the store is down")
            return await original(function, *args)

        state.writer.call = failing_third
        with pytest.raises(OSError):
            await licence.flush(state)
        await licence.flush(state)  # no new user: the alert is tried again all the same

    asyncio.run(merge_then_fail_the_alert())
    [october] = licence_status(state.engine)
    assert october.users == 2 and october.alerts_percent == (50,)
