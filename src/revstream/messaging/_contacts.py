"""Channels and contacts: who a business talks to, through what, and with which consent.

A **channel** belongs to one business (a revstream customer) and has a kind: ``webchat``
(built in, for development and tests) or ``whatsapp`` (the Cloud API). A **contact** is
one person the business talks to on a channel; it carries its **market** (the rate-card
market of its phone number's country calling code) and its **opt-in records**.

Opt-ins are records, never flags: each grants or withdraws one scope at an instant, and
the consent in force at a send time is the latest record of that scope at or before it.
Two scopes, kept separate:

* ``messaging``: the contact agreed to receive the business's messages. Needed for any
  template sent outside an open customer-service window (the platform's rule: message
  only people who opted in; a person who just wrote to the business may be answered).
* ``marketing``: the contact agreed to receive marketing. Needed for every marketing
  template, inside a window or not, free or not: marketing never goes to a contact
  without it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from revstream.messaging._errors import MessagingValueError
from revstream.messaging._units import require_int

CHANNEL_WEBCHAT: Final = "webchat"
CHANNEL_WHATSAPP: Final = "whatsapp"
CHANNEL_KINDS: Final = (CHANNEL_WEBCHAT, CHANNEL_WHATSAPP)
SCOPE_MESSAGING: Final = "messaging"
SCOPE_MARKETING: Final = "marketing"
OPT_IN_SCOPES: Final = (SCOPE_MESSAGING, SCOPE_MARKETING)
opt_ins_per_contact_max: Final = 1_024
"""Opt-in records kept per contact; a store keeps older ones elsewhere if ever needed."""
phone_digits_max: Final = 15
"""E.164 allows at most 15 digits."""

_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}", re.ASCII)
_MARKET: Final = re.compile(r"[A-Z][A-Z0-9_]{1,31}", re.ASCII)
_ENV_NAME: Final = re.compile(r"[A-Z_][A-Z0-9_]{0,127}", re.ASCII)
_DIGITS: Final = re.compile(r"[0-9]{1,15}", re.ASCII)


def validate_id(value: object, what: str) -> str:
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise MessagingValueError(f"{what} must be 1-128 characters of A-Z a-z 0-9 _ . : -, got {value!r}")
    return value


def validate_market(value: object) -> str:
    """A rate-card market: an ISO 3166 alpha-2 code ("IN") or an upper-case region name
    ("REST_OF_AFRICA"), 2-32 characters."""
    if not isinstance(value, str) or _MARKET.fullmatch(value) is None:
        raise MessagingValueError(f"market must be upper-case A-Z 0-9 _ (2-32 characters, e.g. IN), got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Channel:
    """A business's channel. A ``whatsapp`` channel names its Cloud API phone number id and
    the environment variables that hold its app secret (webhook signatures) and its access
    token (sending); never the secrets themselves. ``ai_model`` set = the model answers
    inbound messages inside the window."""

    channel_id: str
    business_id: str
    kind: str
    phone_number_id: str | None = None
    app_secret_env: str | None = None
    ai_model: str | None = None
    access_token_env: str | None = None

    def __post_init__(self) -> None:
        validate_id(self.channel_id, "channel_id")
        validate_id(self.business_id, "business_id")
        if self.kind not in CHANNEL_KINDS:
            raise MessagingValueError(f"channel kind must be one of {', '.join(CHANNEL_KINDS)}, got {self.kind!r}")
        if self.kind == CHANNEL_WHATSAPP:
            if not isinstance(self.phone_number_id, str) or _DIGITS.fullmatch(self.phone_number_id) is None:
                raise MessagingValueError(f"a whatsapp channel needs --phone-number-id (digits), got {self.phone_number_id!r}")
            if not isinstance(self.app_secret_env, str) or _ENV_NAME.fullmatch(self.app_secret_env) is None:
                raise MessagingValueError(f"a whatsapp channel needs --app-secret-env (an environment variable name), "
                                          f"got {self.app_secret_env!r}")
        if self.access_token_env is not None and (not isinstance(self.access_token_env, str)
                                                  or _ENV_NAME.fullmatch(self.access_token_env) is None):
            raise MessagingValueError(f"access_token_env must be an environment variable name, got {self.access_token_env!r}")
        if self.ai_model is not None and (not isinstance(self.ai_model, str) or not self.ai_model):
            raise MessagingValueError("ai_model must be a model name or None")


@dataclass(frozen=True, slots=True)
class OptIn:
    """One consent record: ``scope`` granted (True) or withdrawn (False) at ``time_us``."""

    scope: str
    granted: bool
    time_us: int
    source: str = ""

    def __post_init__(self) -> None:
        if self.scope not in OPT_IN_SCOPES:
            raise MessagingValueError(f"opt-in scope must be one of {', '.join(OPT_IN_SCOPES)}, got {self.scope!r}")
        if type(self.granted) is not bool:
            raise MessagingValueError(f"opt-in granted must be a bool, got {self.granted!r}")
        require_int(self.time_us, "opt-in time_us")
        if not isinstance(self.source, str) or len(self.source) > 200:
            raise MessagingValueError("opt-in source must be a string of at most 200 characters")


@dataclass(frozen=True, slots=True)
class Contact:
    """A person on a channel: ``market`` for rating, opt-in records for consent. The address
    (phone number, webchat session) stays at the edge, never in this value."""

    contact_id: str
    market: str
    opt_ins: tuple[OptIn, ...] = ()

    def __post_init__(self) -> None:
        validate_id(self.contact_id, "contact_id")
        validate_market(self.market)
        if isinstance(self.opt_ins, list):
            object.__setattr__(self, "opt_ins", tuple(self.opt_ins))
        if len(self.opt_ins) > opt_ins_per_contact_max:
            raise MessagingValueError(f"more than {opt_ins_per_contact_max} opt-in records")
        for record in self.opt_ins:
            if not isinstance(record, OptIn):
                raise MessagingValueError(f"opt_ins must hold OptIn records, got {type(record).__name__}")

    def consents(self, scope: str, time_us: int) -> bool:
        """Whether ``scope`` is granted at ``time_us``: the latest record of that scope at or
        before the instant decides (a later record wins a tie of times); none = not granted."""
        if scope not in OPT_IN_SCOPES:
            raise MessagingValueError(f"unknown opt-in scope {scope!r}")
        decided: OptIn | None = None
        for record in self.opt_ins:
            if record.scope == scope and record.time_us <= time_us and (decided is None or record.time_us >= decided.time_us):
                decided = record
        return decided is not None and decided.granted

    def with_opt_in(self, record: OptIn) -> Contact:
        """This contact with one more consent record (records are never edited or removed)."""
        return Contact(self.contact_id, self.market, self.opt_ins + (record,))


def market_for_number(phone: str, prefixes: Mapping[str, str]) -> str:
    """The market of an E.164 number (digits, an optional leading "+") by the longest
    matching calling-code prefix of ``prefixes`` ({"91": "IN", "1": "NORTH_AMERICA"}).

    The table comes from the imported rate card's market list; raises if none matches."""
    digits = phone[1:] if isinstance(phone, str) and phone.startswith("+") else phone
    if not isinstance(digits, str) or _DIGITS.fullmatch(digits) is None:
        raise MessagingValueError(f"a phone number must be 1-{phone_digits_max} digits (E.164), got {phone!r}")
    for length in range(len(digits), 0, -1):
        market = prefixes.get(digits[:length])
        if market is not None:
            return validate_market(market)
    raise MessagingValueError("no market matches the number's calling code")
