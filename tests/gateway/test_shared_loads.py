"""SharedLoads: the per-worker caches read the store once for every request waiting on a key."""

from __future__ import annotations

import asyncio
import gc

import pytest

from revstream.gateway._loads import SharedLoads


def test_concurrent_waiters_share_one_load_and_later_ones_start_another():
    async def scenario():
        loads, calls, gate = SharedLoads(), [], asyncio.Event()

        async def load():
            calls.append(1)
            await gate.wait()
            return len(calls)

        waiters = [asyncio.ensure_future(loads.run("key", load)) for _ in range(20)]
        await asyncio.sleep(0)
        gate.set()
        first = await asyncio.gather(*waiters)
        again = await loads.run("key", load)  # the first load is over: a new one starts
        other = await loads.run("other", load)
        return first, again, other, len(calls)

    first, again, other, calls = asyncio.run(scenario())
    assert first == [1] * 20
    assert (again, other, calls) == (2, 3, 3)


def test_a_cancelled_waiter_leaves_the_load_running_for_the_others():
    async def scenario():
        loads, gate = SharedLoads(), asyncio.Event()

        async def load():
            await gate.wait()
            return "loaded"

        leaving = asyncio.ensure_future(loads.run("key", load))
        staying = asyncio.ensure_future(loads.run("key", load))
        await asyncio.sleep(0)
        leaving.cancel()
        await asyncio.sleep(0)
        gate.set()
        return leaving.cancelled(), await staying

    assert asyncio.run(scenario()) == (True, "loaded")


def test_a_failed_load_fails_its_waiters_and_the_next_run_tries_again():
    async def scenario():
        loads, attempts = SharedLoads(), []

        async def load():
            attempts.append(1)
            await asyncio.sleep(0)
            if len(attempts) == 1:
                raise ConnectionError("store down")
            return "back"

        results = await asyncio.gather(loads.run("key", load), loads.run("key", load), return_exceptions=True)
        return results, await loads.run("key", load), len(attempts)

    results, retried, attempts = asyncio.run(scenario())
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    assert (retried, attempts) == ("back", 2)


def test_a_load_nobody_waits_for_any_more_does_not_leave_an_unobserved_error(caplog):
    async def scenario():
        loads = SharedLoads()

        async def load():
            await asyncio.sleep(0)
            raise ConnectionError("store down")

        waiter = asyncio.ensure_future(loads.run("key", load))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0.01)

    with caplog.at_level("ERROR", logger="asyncio"):
        asyncio.run(scenario())
        gc.collect()
    assert "never retrieved" not in caplog.text


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
