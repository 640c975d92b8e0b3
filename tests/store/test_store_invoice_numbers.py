"""Invoice numbers are sequential per host with no gaps and no duplicates, whatever the
concurrency, retries and rollbacks, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import concurrent.futures

import pytest

from revstream.plans import draft_plan, period_bounds_s
from revstream.store import make_engine, upgrade
from revstream.store import _invoices
from revstream.store._invoices import issue_invoice, list_invoices
from revstream.store._plans import add_plan, subscribe

US = 1_000_000
FEB = period_bounds_s("2026-02")[0] * US
NOW_US = period_bounds_s("2026-03")[1] * US
CUSTOMERS = [f"c{index:02d}" for index in range(8)]


class Boom(Exception):
    pass


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    add_plan(engine, draft_plan(name="pro", kind="subscription", fee="9.99", tokens_included=10), FEB)
    for name in CUSTOMERS:
        subscribe(engine, name, "pro", FEB, FEB)
    yield engine
    engine.dispose()


def test_concurrent_issuing_with_retries_and_a_rollback_leaves_no_gap(engine, monkeypatch):
    real_post = _invoices.post_entries
    failed = []

    def post_or_fail(connection, entries, *rest):
        # The first attempt for c03 dies after its number was taken: the transaction rolls back.
        if entries and "c03" in entries[0].description and not failed:
            failed.append(True)
            raise Boom("forced rollback")
        return real_post(connection, entries, *rest)

    monkeypatch.setattr(_invoices, "post_entries", post_or_fail)
    jobs = CUSTOMERS * 3  # every customer asked three times at once: retries and duplicates
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(issue_invoice, engine, name, "2026-02", NOW_US) for name in jobs]
        results = []
        for future in futures:
            try:
                results.append(future.result())
            except Boom:
                pass
    assert failed, "the forced rollback happened"
    retried = issue_invoice(engine, "c03", "2026-02", NOW_US)  # may already exist from a concurrent retry
    stored = list_invoices(engine)
    assert sorted(s.number for s in stored) == list(range(1, len(CUSTOMERS) + 1)), "sequential, no gaps, no duplicates"
    assert sorted(s.customer for s in stored) == CUSTOMERS, "one invoice per customer and period"
    by_customer = {s.customer: s.number for s in stored}
    assert all(r.number == by_customer[r.customer] for r in results + [retried]), "every retry got the same invoice"
