"""100 parallel free-tier requests over two gateway workers sharing the real PostgreSQL, for a
campaign whose budget pays for 10 impressions: it spends exactly its budget, never more, every
reservation ends delivered, and the ledger checks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from revstream.store import check_ledger
from revstream.store._ads_schema import ad_impressions

from tests.ads.harness import MODEL, AdsHost
from tests.licence.harness import Echo, wait_until

pytestmark = pytest.mark.postgres
REQUESTS = 100
CHARGE_NANOS = 1_000_000
BUDGET_NANOS = 10 * CHARGE_NANOS + CHARGE_NANOS // 2


def test_two_workers_never_spend_beyond_a_small_budget(postgres_url, tmp_path):
    Echo.answer = "Pick waterproof boots."
    with AdsHost(postgres_url, tmp_path / "one") as one, AdsHost(postgres_url, tmp_path / "two") as two:
        one.campaign(total_budget_nanos=BUDGET_NANOS)
        wait_until(lambda: two.app.state.ads.index is not None and len(two.app.state.ads.index) == 1,
                   "the second worker's index refresh")
        key = one.customer("freebie")
        clients = (one.client(key), two.client(key))

        def ask(n: int):
            completion = clients[n % 2].chat.completions.create(
                model=MODEL, metadata={"age_band": "18_plus", "conversation_id": f"c{n}"},
                messages=[{"role": "user", "content": "Which hiking boots for the Alps?"}])
            return "sponsored" in completion.model_extra

        with ThreadPoolExecutor(max_workers=32) as pool:
            shown = sum(pool.map(ask, range(REQUESTS)))

        def settled():
            with one.engine.connect() as connection:
                rows = connection.execute(select(ad_impressions.c.status, ad_impressions.c.charge_nanos)).all()
            return rows if all(status == "delivered" for status, _ in rows) else None

        rows = wait_until(settled, "every impression delivered")
        spent = sum(charge for _, charge in rows)
        print(f"\n{REQUESTS} requests over 2 workers: {shown} ads shown, {spent} nanos spent of {BUDGET_NANOS}")
        assert spent <= BUDGET_NANOS
        assert shown == len(rows) == 10 and spent == 10 * CHARGE_NANOS, "the budget is used, not lost"
        check = check_ledger(one.engine)
        assert check.ok, check.reasons()
