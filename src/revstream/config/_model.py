"""Immutable configuration values. Nothing here reads files or the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..licence import LicenceSettings

EMBEDDED_MODEL_NAME = "smollm2-135m-instruct"
BACKEND_KINDS = ("llamacpp", "openai")


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names the key."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Seconds a verified API key stays cached in a worker; revocation reaches
    # every worker within this bound.
    auth_cache_ttl_s: float = 2.0
    # Largest accepted request body.
    request_body_bytes_max: int = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoreConfig:
    database_url: str
    # Usage records are written in batches bounded in size and delay.
    batch_records_max: int = 512
    batch_delay_ms: int = 2
    # Records waiting for the writer before callers are made to wait (back-pressure).
    queue_records_max: int = 8192
    # Shared rate-limit counters for every worker and replica; in-process when unset.
    redis_url: str | None = None


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Per-request bounds enforced before any backend is called."""

    max_tokens_max: int = 32768
    messages_max: int = 1024
    stop_sequences_max: int = 4


@dataclass(frozen=True, slots=True)
class WitnessEndpointConfig:
    """A witness the host asks to cosign its checkpoints (c2sp.org/tlog-witness): its
    submission URL and its cosigner verifier key (type 0x04, `revstream witness vkey`)."""

    url: str
    vkey: str


@dataclass(frozen=True, slots=True)
class TransparencyConfig:
    """The transparency log: how often workers append, when checkpoints are signed, and
    the witnesses that cosign them."""

    # Default origin for `revstream log init`; the log keeps the origin it was created with.
    origin: str = "revstream.localhost/log"
    # Each worker looks for final usage records to append this often (one at a time).
    log_append_interval_s: float = 1.0
    # A checkpoint is signed once this many seconds or records passed since the last.
    checkpoint_interval_s: float = 60.0
    checkpoint_records: int = 10_000
    # Where the log's signing key and the pseudonym secret live (default HOME/keys): every
    # replica of one host needs the same ones.
    keys_dir: str | None = None
    # --- witnesses (issue 17): each signed checkpoint is sent to every witness for a
    # cosignature; /transparency/checkpoint serves the newest one `witness_quorum` of them
    # cosigned (default: all of them).
    witnesses: tuple[WitnessEndpointConfig, ...] = ()
    witness_quorum: int | None = None
    # Seconds to wait for one witness's answer (a witness down never blocks metering).
    witness_timeout_s: float = 5.0

    @property
    def quorum(self) -> int:
        """Distinct witnesses whose cosignatures a checkpoint needs before it is published."""
        return len(self.witnesses) if self.witness_quorum is None else self.witness_quorum


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One servable model: its public name, aliases and the backend that runs it."""

    name: str
    backend: str
    aliases: tuple[str, ...] = ()
    owned_by: str = "revstream"
    # llamacpp
    path: Path | None = None
    n_ctx: int = 2048
    n_threads: int | None = None
    n_batch: int = 512
    # openai-compatible upstream
    base_url: str | None = None
    api_key_env: str | None = None
    upstream_model: str | None = None
    context_window: int | None = None
    timeout_connect_s: float = 5.0
    timeout_read_s: float = 120.0
    pool_connections_max: int = 100
    tokenizer: Path | None = None
    # Both backends: the chat template that turns messages into the prompt, inline Jinja
    # (anything holding "{{" or "{%") or the path of a .jinja file or a Hugging Face
    # tokenizer_config.json. Default: the GGUF's own (`path`, or `tokenizer` upstream).
    chat_template: str | None = None

    def __post_init__(self) -> None:
        if self.chat_template is not None and not self.chat_template.strip():
            raise ConfigError(f"models.{self.name}.chat_template: empty; omit it to use the GGUF's own template")

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class PriceConfig:
    """A model price declared in the file: decimal strings per million tokens."""

    model: str
    input: str
    output: str
    currency: str = "USD"
    effective_from: str = "1970-01-01"


@dataclass(frozen=True, slots=True)
class LicensorConfig:
    """A licensor and the models it licenses, declared in the file."""

    name: str
    models: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgreementConfig:
    """A revenue-share agreement declared in the file; amounts are decimal strings."""

    licensor: str
    models: tuple[str, ...]
    effective_from: str
    currency: str = "USD"
    effective_to: str | None = None
    share_bps: int | None = None
    tiers: str | None = None
    royalty_per_mtok: str | None = None
    minimum: str | None = None
    cap: str | None = None
    stream_share: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CostsConfig:
    """What serving costs the host, so the dashboard can show a margin per stream.

    Amounts are integer nanos of `currency`, parsed from decimal strings when the file
    is loaded: a cost per GPU-hour (charged for each request's duration) and a cost per
    million tokens (prompt and completion alike) per model. Both are optional."""

    currency: str = "USD"
    gpu_hour_nanos: int | None = None
    per_mtok_nanos: tuple[tuple[str, int], ...] = ()

    @property
    def configured(self) -> bool:
        return self.gpu_hour_nanos is not None or bool(self.per_mtok_nanos)


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Who the host is, for people: the legal name and address its invoices are issued
    under, its tax id and a contact. `legal_name` None: not configured (invoices then say
    so instead of naming anyone). Checked for form when the file is loaded."""

    legal_name: str | None = None
    address: tuple[str, ...] = ()
    tax_id: str | None = None
    contact: str | None = None

    @property
    def configured(self) -> bool:
        return self.legal_name is not None

    def issuer(self) -> dict | None:
        """The issuer an invoice names (``revstream.plans.invoice_json``), or None."""
        if self.legal_name is None:
            return None
        return {"legal_name": self.legal_name, "address": list(self.address), "tax_id": self.tax_id,
                "contact": self.contact}


@dataclass(frozen=True, slots=True)
class PlanConfig:
    """A plan declared in the file; amounts are decimal strings (see `revstream.plans`)."""

    name: str
    kind: str
    currency: str = "USD"
    fee: str | None = None
    tokens_included: int = 0
    overage: str | None = None
    tokens_per_day: int = 0
    models: tuple[str, ...] = ()
    minimum: str | None = None
    discount_bps: int = 0
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class TaxRateConfig:
    """A tax rate for customers of one country (ISO 3166 alpha-2), in basis points."""

    country: str
    rate_bps: int


@dataclass(frozen=True, slots=True)
class Config:
    home: Path
    server: ServerConfig
    store: StoreConfig
    models: tuple[ModelConfig, ...]
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    transparency: TransparencyConfig = field(default_factory=TransparencyConfig)
    prices: tuple[PriceConfig, ...] = ()
    licensors: tuple[LicensorConfig, ...] = ()
    agreements: tuple[AgreementConfig, ...] = ()
    costs: CostsConfig = field(default_factory=CostsConfig)
    source: Path | None = None
    plans: tuple[PlanConfig, ...] = ()

    @property
    def keys_dir(self) -> Path:
        """The directory of the host's key files (a relative `transparency.keys_dir` is under the home)."""
        configured = self.transparency.keys_dir
        return self.home / "keys" if not configured else self.home / Path(configured).expanduser()
    tax_rates: tuple[TaxRateConfig, ...] = ()
    host: HostConfig = field(default_factory=HostConfig)
    # [licence] (issue 15): None when the value was built without a file (tests); see
    # `config._licence.licence_settings` for the defaults then.
    licence: LicenceSettings | None = None
    # [recitation] (issue 16): a `config._recitation.RecitationSettings`; None when built
    # without a file (see `config._recitation.recitation_settings` for the defaults then).
    recitation: object | None = None
    # [ads] (issue 13): None when built without a file (tests); see `config._ads.ads_settings`.
    ads: object | None = None

    def model_named(self, name: str) -> ModelConfig | None:
        for model in self.models:
            if name in model.names:
                return model
        return None
