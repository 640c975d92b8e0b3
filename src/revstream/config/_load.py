"""Load a `Config` from a TOML file and the environment.

The environment is read here (and in `_home`, which this calls) only: `REVSTREAM_HOME` and
the XDG variables (the data directory, see `_home` for the one rule that finds the home and
the config file in force), `REVSTREAM_DATABASE_URL` and `REVSTREAM_REDIS_URL` (override the
store URLs, convenient for tests and containers), and `REVSTREAM_KEYS_DIR` (overrides
`transparency.keys_dir`: the replicas of a fleet share one).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from urllib.parse import urlsplit

from ..money import MoneyError, parse_amount, validate_currency
from ..transparency import ProofError, parse_cosigner_key
from ._home import default_database_url, find_config, resolve_home
from ._licence import licence_section  # [licence] (issue 15)
from ._recitation import recitation_section  # [recitation] (issue 16)
from ._ads import ads_section  # [ads] (issue 13)
from ._model import (
    BACKEND_KINDS,
    EMBEDDED_MODEL_NAME,
    Config,
    ConfigError,
    CostsConfig,
    HostConfig,
    LimitsConfig,
    AgreementConfig,
    LicensorConfig,
    ModelConfig,
    PlanConfig,
    PriceConfig,
    ServerConfig,
    TaxRateConfig,
    StoreConfig,
    TransparencyConfig,
    WitnessEndpointConfig,
)

EMBEDDED_PATH = "embedded"
TOP_LEVEL_KEYS = frozenset({"server", "store", "limits", "models", "prices", "licensors", "agreements", "transparency",
                            "costs", "plans", "tax_rates", "host", "licence",
                            "recitation", "ads"})
# [host]: bounds on what an invoice prints (a legal name, a postal address, ids).
HOST_TEXT_CHARS_MAX = 200
HOST_ADDRESS_LINES_MAX = 8


def embedded_model() -> ModelConfig:
    return ModelConfig(
        name=EMBEDDED_MODEL_NAME,
        backend="llamacpp",
        path=Path(EMBEDDED_PATH),
        aliases=("smollm2",),
        owned_by="HuggingFaceTB",
    )


def default_config(environ: Mapping[str, str] | None = None, *, home: str | Path | None = None) -> Config:
    """The embedded default, whatever file the home holds: SQLite in the home, the embedded model."""
    environ = os.environ if environ is None else environ
    return _build({}, resolve_home(home, environ), environ, None)


def load_config(
    path: str | Path | None, environ: Mapping[str, str] | None = None, *, home: str | Path | None = None
) -> Config:
    """The config in force: the file `path`, else the home's revstream.toml, else the embedded
    default. `home` (the --home option) overrides $REVSTREAM_HOME; see `_home` for the rule."""
    environ = os.environ if environ is None else environ
    resolved_home = resolve_home(home, environ)
    path = find_config(resolved_home, path)
    raw: dict[str, Any] = {}
    if path is not None:
        source = Path(path)
        try:
            raw = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise ConfigError(f"config file not found: {source}") from error
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {source} cannot be read: {error}") from error
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{source}: invalid TOML: {error}") from error
    return _build(raw, resolved_home, environ, Path(path).resolve() if path is not None else None)


def _build(raw: dict[str, Any], home: Path, environ: Mapping[str, str], source: Path | None) -> Config:
    if "home" in raw:
        raise ConfigError("home: a config file cannot choose the data directory, because the config is found in it: "
                          "use --home DIR or $REVSTREAM_HOME")
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown top-level key (known: {', '.join(sorted(TOP_LEVEL_KEYS))})")
    if not isinstance(raw.get("store", {}), Mapping):
        raise ConfigError("store: expected a table")
    store_raw = dict(raw.get("store", {}))
    store_raw.setdefault("database_url", default_database_url(home))
    if environ.get("REVSTREAM_DATABASE_URL"):
        store_raw["database_url"] = environ["REVSTREAM_DATABASE_URL"]
    if environ.get("REVSTREAM_REDIS_URL"):
        store_raw["redis_url"] = environ["REVSTREAM_REDIS_URL"]
    transparency_raw = raw.get("transparency", {})
    if environ.get("REVSTREAM_KEYS_DIR") and isinstance(transparency_raw, Mapping):
        transparency_raw = {**transparency_raw, "keys_dir": environ["REVSTREAM_KEYS_DIR"]}
    models_raw = raw.get("models") or []
    if not isinstance(models_raw, list):
        raise ConfigError("models: expected an array of tables ([[models]])")
    models = tuple(_model(entry, position) for position, entry in enumerate(models_raw))
    if not models:
        models = (embedded_model(),)
    _check_unique_names(models)
    return Config(
        home=home,
        server=_section(ServerConfig, raw.get("server", {}), "server"),
        store=_section(StoreConfig, store_raw, "store"),
        limits=_section(LimitsConfig, raw.get("limits", {}), "limits"),
        transparency=_transparency(transparency_raw),
        models=models,
        prices=_prices(raw.get("prices") or []),
        licensors=_tables(LicensorConfig, raw.get("licensors") or [], "licensors", ("name",)),
        agreements=_tables(AgreementConfig, raw.get("agreements") or [], "agreements", ("licensor", "models", "from")),
        costs=_costs(raw.get("costs", {})),
        source=source,
        plans=_tables(PlanConfig, raw.get("plans") or [], "plans", ("name", "kind")),
        tax_rates=_tables(TaxRateConfig, raw.get("tax_rates") or [], "tax_rates", ("country", "rate_bps")),
        host=_host(raw.get("host", {})),
        licence=licence_section(raw.get("licence", {}), home),  # [licence] (issue 15)
        recitation=recitation_section(raw.get("recitation", {}), home),  # [recitation] (issue 16)
        ads=ads_section(raw.get("ads", {})),  # [ads] (issue 13)
    )


def _transparency(values: Any) -> TransparencyConfig:
    if not isinstance(values, Mapping):
        raise ConfigError("transparency: expected a table")
    values = dict(values)
    witnesses = _witnesses(values.pop("witnesses", []))  # issue 17: witnesses
    section = dataclasses.replace(_section(TransparencyConfig, values, "transparency"), witnesses=witnesses)
    for key in ("log_append_interval_s", "checkpoint_interval_s", "checkpoint_records", "witness_timeout_s"):
        if getattr(section, key) <= 0:
            raise ConfigError(f"transparency.{key}: must be positive")
    if not section.origin or any(char.isspace() or char == "+" for char in section.origin):
        raise ConfigError("transparency.origin: a non-empty name without spaces or '+'")
    if section.witness_quorum is not None and not 1 <= section.witness_quorum <= len(witnesses):
        raise ConfigError(f"transparency.witness_quorum: must be between 1 and the {len(witnesses)} witnesses "
                          "configured in transparency.witnesses")
    return section


WITNESSES_MAX = 32
"""Most witnesses a host asks to cosign each checkpoint (the signed-note bound is 100 signatures)."""


def _witnesses(entries: Any) -> tuple[WitnessEndpointConfig, ...]:
    """transparency.witnesses = [{url = "http://…", vkey = "name+id+base64"}]: one per witness,
    each with its own key (a quorum counts distinct public keys)."""
    if not isinstance(entries, list) or len(entries) > WITNESSES_MAX:
        raise ConfigError(f"transparency.witnesses: expected an array of at most {WITNESSES_MAX} tables "
                          '{url = "https://witness.example/", vkey = "…"}')
    witnesses, keys = [], set()
    for position, entry in enumerate(entries):
        where = f"transparency.witnesses[{position}]"
        if not isinstance(entry, Mapping) or set(entry) != {"url", "vkey"}:
            raise ConfigError(f"{where}: expected exactly the keys url and vkey")
        url, vkey = entry["url"], entry["vkey"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{where}.url: expected the witness's http(s) URL, got {url!r}")
        try:
            _, _, public_key = parse_cosigner_key(vkey)
        except ProofError as error:
            raise ConfigError(f"{where}.vkey: not a witness (cosignature/v1) verifier key: {error}") from None
        if public_key in keys:
            raise ConfigError(f"{where}.vkey: the same key as another witness (a quorum counts distinct keys)")
        keys.add(public_key)
        witnesses.append(WitnessEndpointConfig(url, vkey))
    return tuple(witnesses)


def _cost_nanos(key: str, value: Any, currency: str) -> int:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a decimal string, e.g. \"2.50\"")
    try:
        nanos = parse_amount(value, currency)
    except MoneyError as error:
        raise ConfigError(f"{key}: {error}") from error
    if nanos < 0:
        raise ConfigError(f"{key}: must not be negative")
    return nanos


def _costs(values: Any) -> CostsConfig:
    """[costs]: currency, gpu_hour (a decimal string) and [costs.per_mtok] (model = "0.02")."""
    if not isinstance(values, Mapping):
        raise ConfigError("costs: expected a table")
    unknown = sorted(set(values) - {"currency", "gpu_hour", "per_mtok"})
    if unknown:
        raise ConfigError(f"costs.{unknown[0]}: unknown key (known: currency, gpu_hour, per_mtok)")
    currency = values.get("currency", "USD")
    try:
        validate_currency(currency)
    except MoneyError as error:
        raise ConfigError(f"costs.currency: {error}") from error
    per_mtok = values.get("per_mtok", {})
    if not isinstance(per_mtok, Mapping):
        raise ConfigError('costs.per_mtok: expected a table of model = "cost per million tokens"')
    gpu_hour = values.get("gpu_hour")
    return CostsConfig(
        currency=currency,
        gpu_hour_nanos=None if gpu_hour is None else _cost_nanos("costs.gpu_hour", gpu_hour, currency),
        per_mtok_nanos=tuple(sorted(
            (model, _cost_nanos(f"costs.per_mtok.{model}", value, currency)) for model, value in per_mtok.items()
        )),
    )


def _host_text(key: str, value: Any) -> str:
    """One line of printable text (no control characters), trimmed, not empty."""
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    text = value.strip()
    if not text:
        raise ConfigError(f"{key}: must not be empty")
    if len(text) > HOST_TEXT_CHARS_MAX:
        raise ConfigError(f"{key}: at most {HOST_TEXT_CHARS_MAX} characters")
    if any(ord(char) < 32 or 0x7F <= ord(char) < 0xA0 or char in "\u2028\u2029" for char in text):
        raise ConfigError(f"{key}: one line of text without control characters (put address lines in an array)")
    return text


def _host(values: Any) -> HostConfig:
    """[host]: legal_name (required in the section), address (an array of lines), tax_id, contact."""
    if not isinstance(values, Mapping):
        raise ConfigError("host: expected a table")
    known = ("legal_name", "address", "tax_id", "contact")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"host.{unknown[0]}: unknown key (known: {', '.join(known)})")
    if not values:
        return HostConfig()
    if "legal_name" not in values:
        raise ConfigError("host.legal_name: required: the name the host's invoices are issued under")
    address = values.get("address", [])
    if isinstance(address, str):
        address = [address]
    if not isinstance(address, list):
        raise ConfigError('host.address: expected an array of lines, e.g. ["1 Main St", "10115 Berlin", "Germany"]')
    if len(address) > HOST_ADDRESS_LINES_MAX:
        raise ConfigError(f"host.address: at most {HOST_ADDRESS_LINES_MAX} lines")
    optional = {key: None if values.get(key) is None else _host_text(f"host.{key}", values[key])
                for key in ("tax_id", "contact")}
    return HostConfig(
        legal_name=_host_text("host.legal_name", values["legal_name"]),
        address=tuple(_host_text(f"host.address[{index}]", line) for index, line in enumerate(address)),
        **optional,
    )


def _section(cls: type, values: Mapping[str, Any], name: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{name}: expected a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(sorted(known))})")
    converted = {key: _convert(f"{name}.{key}", known[key].type, value) for key, value in values.items()}
    try:
        return cls(**converted)
    except TypeError as error:
        raise ConfigError(f"{name}: {error}") from error


def _convert(key: str, annotation: Any, value: Any) -> Any:
    text = str(annotation)
    if "Path" in text:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a path string")
        return Path(value).expanduser()
    if "tuple" in text:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected an array of strings")
        return tuple(value)
    expected = {"int": int, "float": (int, float), "str": str}
    for type_name, types in expected.items():
        if text.startswith(type_name):
            if isinstance(value, bool) or not isinstance(value, types):
                raise ConfigError(f"{key}: expected {type_name}, got {value!r}")
            if isinstance(value, (int, float)) and value < 0:
                raise ConfigError(f"{key}: must not be negative")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{key}: must be a finite number")
            return float(value) if type_name == "float" else value
    return value


def _model(entry: Any, position: int) -> ModelConfig:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"models[{position}]: expected a table")
    where = f"models[{position}]"
    for required in ("name", "backend"):
        if required not in entry:
            raise ConfigError(f"{where}.{required}: required")
    model = _section(ModelConfig, entry, where)
    if model.backend not in BACKEND_KINDS:
        raise ConfigError(f"{where}.backend: {model.backend!r} is not one of {', '.join(BACKEND_KINDS)}")
    if model.backend == "llamacpp" and model.path is None:
        raise ConfigError(f"{where}.path: a llamacpp model needs a GGUF path (or \"{EMBEDDED_PATH}\")")
    if model.backend == "openai" and not model.base_url:
        raise ConfigError(f"{where}.base_url: an openai backend needs the upstream base URL")
    return model


def _prices(entries: Any) -> tuple[PriceConfig, ...]:
    """[[prices]] tables: model, input, output (decimal strings per million tokens),
    currency, from (YYYY-MM-DD). Checked for form here; `pricing` parses the amounts."""
    if not isinstance(entries, list):
        raise ConfigError("prices: expected an array of tables ([[prices]])")
    prices = []
    for position, entry in enumerate(entries):
        where = f"prices[{position}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a table")
        values = dict(entry)
        if "from" in values:
            values["effective_from"] = values.pop("from")
        for required in ("model", "input", "output"):
            if required not in values:
                raise ConfigError(f"{where}.{required}: required")
        for key, value in values.items():
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{key}: expected a string (prices are decimal strings, e.g. \"0.20\")")
        prices.append(_section(PriceConfig, values, where))
    return tuple(prices)


def _tables(cls: type, entries: Any, name: str, required: tuple[str, ...]) -> tuple:
    """An array of tables ([[name]]) as `cls` values; `from`/`to` name the effective dates."""
    if not isinstance(entries, list):
        raise ConfigError(f"{name}: expected an array of tables ([[{name}]])")
    values = []
    for position, entry in enumerate(entries):
        where = f"{name}[{position}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a table")
        for key in required:
            if key not in entry:
                raise ConfigError(f"{where}.{key}: required")
        renamed = {
            {"from": "effective_from", "to": "effective_to"}.get(key, key): value.isoformat() if isinstance(value, date) else value
            for key, value in entry.items()
        }
        values.append(_section(cls, renamed, where))
    return tuple(values)


def _check_unique_names(models: tuple[ModelConfig, ...]) -> None:
    seen: dict[str, str] = {}
    for model in models:
        for name in model.names:
            if name in seen:
                raise ConfigError(f"model name {name!r} is used twice ({seen[name]} and {model.name})")
            seen[name] = model.name
