"""Writes `v1_store.db`: a host's SQLite store as revstream wrote it before log leaves were
typed (commit bc66074), for the test that a log written by that code, extended by today's,
still verifies end to end.

Run with the old code on the path, from the repository root:

    git worktree add /some/dir bc66074
    PYTHONPATH=/some/dir/src .venv/bin/python tests/audit/data/make_v1_store.py tests/audit/data

It sets up a licensor, an agreement, a priced model and a subscription plan, initializes the
log, serves usage in January 2026 (pay-as-you-go and under the plan), and settles January:
a signed statement of the first form (fees declared). The log's verifier key and the
statement's note are written beside the store.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from revstream.metering import FinalUsage, PendingUsage
from revstream.money import parse_amount
from revstream.plans import draft_plan
from revstream.pricing import ModelPrice
from revstream.settlement import draft_agreement
from revstream.store import (
    AdmitRequest, add_agreement, add_credit, add_licensor, admit_batch, create_key, finalize_batch, init_log_key,
    load_prices, make_engine, set_model_licensor, set_price, settle, upgrade,
)
from revstream.store._engine import writing
from revstream.store._log import CheckpointPolicy, append_log
from revstream.store._plans import add_plan, subscribe

US = 1_000_000
JAN = 1_767_225_600 * US  # 2026-01-01T00:00:00Z
FEB = 1_769_904_000 * US


def serve(engine, customer: str, request_id: str, tokens_prompt: int, tokens_completion: int, time_us: int) -> None:
    _, key = create_key(engine, customer, JAN)
    pending = PendingUsage(request_id, None, time_us, key.customer_id, key.key_id, "llama-v1", "llamacpp", "chat",
                           tokens_prompt, "w")
    with writing(engine) as connection:
        admit_batch(connection, [AdmitRequest(pending, tokens_completion)], load_prices(connection), time_us)
    with writing(engine) as connection:
        finalize_batch(connection, [FinalUsage(request_id, "ok", tokens_prompt, tokens_completion, "backend",
                                               time_us + 1)], load_prices(connection))


def main(out: Path) -> None:
    path = out / "v1_store.db"
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    set_price(engine, ModelPrice.from_strings("llama-v1", "USD", "0.20", "0.60", date(2026, 1, 1)), JAN)
    add_licensor(engine, "Legacy Labs", JAN)
    set_model_licensor(engine, "llama-v1", "Legacy Labs", JAN)
    add_agreement(engine, draft_agreement(licensor="Legacy Labs", models=("llama-v1",), currency="USD",
                                          effective_from=date(2026, 1, 1), share_bps=1500), JAN)
    add_plan(engine, draft_plan(name="pro", kind="subscription", fee="30.00", tokens_included=1000,
                                overage_per_mtok="2.00", models=("llama-v1",)), JAN)
    vkey = init_log_key(engine, "legacy.test/log", JAN)
    add_credit(engine, "payg", parse_amount("100.00", "USD"), "USD", JAN)
    add_credit(engine, "subco", parse_amount("100.00", "USD"), "USD", JAN)
    subscribe(engine, "subco", "pro", JAN, JAN)
    for n in range(6):
        serve(engine, "payg", f"jan-payg-{n}", 1000 + n, 200 + n, JAN + (n + 1) * 3600 * US)
        serve(engine, "subco", f"jan-sub-{n}", 300 + n, 150, JAN + (n + 1) * 7200 * US)
    while append_log(engine, CheckpointPolicy(0, 1), FEB).appended:
        pass
    [statement] = settle(engine, "2026-01", FEB + US)
    (out / "v1_store.vkey").write_text(vkey + "\n")
    (out / "v1_statement_2026-01.note").write_text(statement.signed_note)
    engine.dispose()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
