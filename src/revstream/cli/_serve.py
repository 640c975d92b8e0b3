"""`revstream serve`: migrate the store, bootstrap a first run, start uvicorn."""

from __future__ import annotations

import dataclasses
from datetime import date
import os
import shutil
import time

import uvicorn

from ..config import Config, ConfigError
from ..money import MoneyError
from ..pricing import ModelPrice, PricingError
from ..gateway import create_app
from ..gateway._auth import ADMIN_TOKEN_META_KEY
from ..keys import hash_secret, new_admin_token
from ..settlement import SettlementError, agreement_terms, draft_agreement
from ._plans import apply_declared_plans
from ..store import (
    Conflict,
    add_agreement,
    add_licensor,
    create_key,
    ensure_prices,
    list_agreements,
    list_licensors,
    make_engine,
    put_meta_if_absent,
    set_model_licensor,
    upgrade,
)

DEMO_CUSTOMER = "demo"


def declared_prices(config: Config) -> tuple[ModelPrice, ...]:
    """The config file's [[prices]] as ModelPrice values (ConfigError names a bad one)."""
    prices = []
    for position, declared in enumerate(config.prices):
        try:
            start = date.fromisoformat(declared.effective_from)
            prices.append(ModelPrice.from_strings(declared.model, declared.currency, declared.input, declared.output, start))
        except (ValueError, PricingError, MoneyError) as error:
            raise ConfigError(f"prices[{position}] ({declared.model}): {error}") from error
    return tuple(prices)


def apply_declared_agreements(engine, config: Config, now_us: int) -> None:
    """Add the config file's licensors, model licensors and agreements that the store
    does not hold yet (an identical agreement is not added twice)."""
    known = {row.name for row in list_licensors(engine)}
    for declared in config.licensors:
        if declared.name not in known:
            add_licensor(engine, declared.name, now_us)
        for model in declared.models:
            set_model_licensor(engine, model, declared.name, now_us)
    existing = [_without_id(row.agreement) for row in list_agreements(engine)]
    for position, declared in enumerate(config.agreements):
        try:
            draft = draft_agreement(
                licensor=declared.licensor, models=declared.models, currency=declared.currency,
                effective_from=date.fromisoformat(declared.effective_from),
                effective_to=date.fromisoformat(declared.effective_to) if declared.effective_to else None,
                share_bps=declared.share_bps, tiers=declared.tiers, royalty_per_mtok=declared.royalty_per_mtok,
                minimum=declared.minimum, cap=declared.cap, stream_shares=declared.stream_share,
            )
            if _without_id(draft) not in existing:
                add_agreement(engine, draft, now_us)
        except (ValueError, SettlementError, MoneyError, Conflict) as error:
            raise ConfigError(f"agreements[{position}] ({declared.licensor}): {error}") from error


def _without_id(agreement) -> dict:
    terms = agreement_terms(agreement)
    terms.pop("agreement", None)
    return terms


def bootstrap(config: Config) -> dict | None:
    """Migrate and add the config file's prices; on the very first start create the admin
    token and a demo key and return them (shown once, never stored in clear)."""
    engine = make_engine(config.store.database_url)
    try:
        upgrade(engine)
        now_us = time.time_ns() // 1000
        ensure_prices(engine, declared_prices(config), now_us)
        apply_declared_agreements(engine, config, now_us)
        apply_declared_plans(engine, config, now_us)
        admin_token = new_admin_token()
        if not put_meta_if_absent(engine, ADMIN_TOKEN_META_KEY, hash_secret(admin_token)):
            return None
        demo_key, row = create_key(engine, DEMO_CUSTOMER, time.time_ns() // 1000)
        return {"admin_token": admin_token, "demo_key": demo_key, "demo_key_id": row.key_id}
    finally:
        engine.dispose()


def print_first_run(first: dict, host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    print(
        f"""
revstream: first start. These secrets are shown ONCE; only their hashes are stored.

  admin token : {first['admin_token']}
  demo API key: {first['demo_key']}   (customer "demo", key id {first['demo_key_id']})

Try it:
  curl {base}/v1/chat/completions \\
    -H "Authorization: Bearer {first['demo_key']}" -H "Content-Type: application/json" \\
    -d '{{"model": "smollm2-135m-instruct", "messages": [{{"role": "user", "content": "Hello!"}}]}}'

More keys:  .venv/bin/revstream keys create --customer NAME
Dashboard:  {base}/dashboard   (paste the admin token, a licensor token or an API key)
""",
        flush=True,
    )


def serve(config: Config, host: str | None, port: int | None, workers: int | None) -> int:
    server = dataclasses.replace(
        config.server,
        host=host or config.server.host,
        port=port if port is not None else config.server.port,
        workers=workers or config.server.workers,
    )
    config = dataclasses.replace(config, server=server)
    first = bootstrap(config)
    if first is not None:
        print_first_run(first, server.host, server.port)
    options = dict(host=server.host, port=server.port, loop="uvloop", http="httptools",
                   access_log=False, log_level="info", timeout_graceful_shutdown=30)
    if server.workers <= 1:
        uvicorn.run(create_app(config), **options)
        return 0
    metrics_dir = config.home / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if config.source is not None:
        os.environ["REVSTREAM_CONFIG"] = str(config.source)
    os.environ["REVSTREAM_HOME"] = str(config.home)
    os.environ.setdefault("REVSTREAM_DATABASE_URL", config.store.database_url)
    uvicorn.run("revstream.gateway:app_from_environment", factory=True, workers=server.workers, **options)
    return 0
