"""`revstream serve`: migrate the store, bootstrap a first run, start uvicorn."""

from __future__ import annotations

import dataclasses
from datetime import date
import os
from pathlib import Path
import shlex
import shutil
import sys
import time

import uvicorn

from ..backends import BackendError, embedded_gguf_path
from ..config import Config, ConfigError, adopt_config, check_adoptable
from ..money import MoneyError
from ..pricing import ModelPrice, PricingError
from ..gateway import create_app
from ..gateway._auth import ADMIN_TOKEN_META_KEY
from ..keys import hash_secret, new_admin_token
from ..settlement import SettlementError, agreement_terms, draft_agreement
from ._licence import start_warnings as licence_warnings  # licence (issue 15)
from ._output import database_url_for_people, store_description
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
GGUF_MAGIC = b"GGUF"
EMBEDDED_PATH = "embedded"
DATABASE_URL_ENV = "REVSTREAM_DATABASE_URL"


def check_model_files(config: Config) -> None:
    """Every model file the config names exists and is a GGUF file, so a wrong path stops
    `serve` at start (ConfigError naming the model) rather than failing its first request."""
    for position, model in enumerate(config.models):
        where = f"models[{position}] ({model.name})"
        if model.backend == "llamacpp":
            if str(model.path) == EMBEDDED_PATH:
                try:
                    embedded_gguf_path()
                except BackendError as error:
                    raise ConfigError(f"{where}.path: {error}") from error
            else:
                _check_gguf(f"{where}.path", model.path)
        if model.tokenizer is not None:
            _check_gguf(f"{where}.tokenizer", model.tokenizer)


def _check_gguf(key: str, path: Path) -> None:
    try:
        with open(path, "rb") as file:
            magic = file.read(len(GGUF_MAGIC))
    except FileNotFoundError as error:
        raise ConfigError(f"{key}: model file not found: {path.resolve()}") from error
    except OSError as error:
        raise ConfigError(f"{key}: model file {path} cannot be read: {error.strerror}") from error
    if magic != GGUF_MAGIC:
        raise ConfigError(f"{key}: {path} is not a GGUF model file")


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
    engine = make_engine(config.store.database_url, config.keys_dir)
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


def cli_command(config: Config) -> str:
    """The command line that reaches this server's store from any directory and shell:
    this installation's `revstream` by absolute path and the home (which finds the config);
    the store URL too when it came from the environment, which another shell may lack."""
    script = Path(sys.executable).parent / "revstream"
    program = shlex.quote(str(script)) if script.is_file() else f"{shlex.quote(sys.executable)} -m revstream"
    command = f"{program} --home {shlex.quote(str(config.home))}"
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        shown = database_url_for_people(url)
        command = f"{DATABASE_URL_ENV}={shlex.quote(shown)} {command}" + ("  (with the password)" if shown != url else "")
    return command


def print_first_run(first: dict, host: str, port: int, config: Config) -> None:
    base = f"http://{host}:{port}"
    print(
        f"""
revstream: first start. These secrets are shown ONCE; only their hashes are stored.

  admin token : {first['admin_token']}
  demo API key: {first['demo_key']}   (customer "demo", key id {first['demo_key_id']})

Try it:
  curl {base}/v1/chat/completions \\
    -H "Authorization: Bearer {first['demo_key']}" -H "Content-Type: application/json" \\
    -d '{{"model": "{config.models[0].name}", "messages": [{{"role": "user", "content": "Hello!"}}]}}'

More keys:   {cli_command(config)} keys create --customer NAME
Dashboard:   {base}/dashboard   (paste the admin token, a licensor token or an API key)
Lost or leaked the admin token? Replace it:  {cli_command(config)} admin token rotate
""",
        flush=True,
    )


def serve(config: Config, host: str | None, port: int | None, workers: int | None, config_given: str | None) -> int:
    """Migrate and bootstrap, make a given config the home's, run (the caller has checked the
    model files with `check_model_files`)."""
    server = dataclasses.replace(
        config.server,
        host=host or config.server.host,
        port=port if port is not None else config.server.port,
        workers=workers or config.server.workers,
    )
    config = dataclasses.replace(config, server=server)
    adopt = config_given is not None and config.source is not None
    if adopt:
        check_adoptable(config.home, config.source)  # before bootstrap creates secrets it would print
    first = bootstrap(config)
    if adopt and adopt_config(config.home, config.source):  # only a config that bootstrapped
        print(f"revstream: {config.home / 'revstream.toml'} now links to {config.source}: "
              "every command on this home uses it", file=sys.stderr)
    print(f"revstream: serving {store_description(config)}", file=sys.stderr, flush=True)
    for warning in licence_warnings(config):  # licence (issue 15): `revstream licence check` at start
        print(f"revstream: licence {warning}", file=sys.stderr, flush=True)
    if first is not None:
        print_first_run(first, server.host, server.port, config)
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
