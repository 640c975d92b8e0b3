"""Affiliates grouped: one install's monthly active users carried to another as a file.

The Llama licences count the monthly active users of a licensee *and its affiliates*
together. Each install counts its own end users (`_mau`); an affiliate exports a month's
state (`revstream licence export-mau`) and the install that reports for the group imports it
(`revstream licence import-mau`), which merges it into its own month: the union of two exact
sets, or the register-wise maximum of two sketches. A union is idempotent, so importing the
same file twice, or a later export that holds more users, never counts anyone twice.

An end user seen by two installs is recognised as one only if both hash with the same key
(copy the key file `mau.secret` to every affiliate). With different keys the union counts
such a user twice: an overcount, never an undercount. The file says which key made it
(`key_id`, a keyed digest that reveals nothing of the key) and the importer reports whether
it is its own.

The file (JSON, UTF-8):

    {"format": "revstream-mau/1", "affiliate": NAME, "month": "YYYY-MM", "key_id": HEX16,
     "users": N, "method": "exact"|"hll", "state": BASE64, "state_sha256": HEX64}

where `state` is `MauCounter.serialize()` (hashes only, never an end user's id).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Final

from ._errors import SketchError
from ._mau import MauCounter

EXPORT_FORMAT: Final = "revstream-mau/1"
EXPORT_BYTES_MAX: Final = 64 << 20
"""The largest file read: 100,000 exact hashes are 1.1 MB of base64; a sketch 22 kB."""
AFFILIATE_NAME_CHARS_MAX: Final = 128
_KEY_ID_CONTEXT: Final = b"revstream mau key id"


def mau_key_id(secret: bytes) -> str:
    """Names the key of end users' hashes without revealing it: keyed BLAKE2b of a constant."""
    return hashlib.blake2b(_KEY_ID_CONTEXT, key=secret[:64], digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class AffiliateMonth:
    affiliate: str
    key_id: str
    counter: MauCounter

    @property
    def month(self) -> str:
        return self.counter.month


def export_document(affiliate: str, key_id: str, counter: MauCounter) -> dict:
    _check_name(affiliate)
    state = counter.serialize()
    return {"format": EXPORT_FORMAT, "affiliate": affiliate, "month": counter.month, "key_id": key_id,
            "users": counter.count(), "method": counter.method,
            "state": base64.b64encode(state).decode("ascii"), "state_sha256": hashlib.sha256(state).hexdigest()}


def read_export(data: bytes, exact_users_max: int) -> AffiliateMonth:
    """Parse and check an exported month; SketchError names what is wrong."""
    if len(data) > EXPORT_BYTES_MAX:
        raise SketchError(f"the file is over {EXPORT_BYTES_MAX} bytes: not a revstream MAU export")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SketchError(f"not a revstream MAU export (not JSON: {error})") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise SketchError(f"not a revstream MAU export (format must be {EXPORT_FORMAT!r})")
    affiliate, key_id = document.get("affiliate"), document.get("key_id")
    _check_name(affiliate)
    if not isinstance(key_id, str) or len(key_id) != 16:
        raise SketchError("the export's key_id must be 16 hex digits")
    try:
        state = base64.b64decode(str(document.get("state", "")), validate=True)
    except (binascii.Error, ValueError):
        raise SketchError("the export's state is not base64") from None
    if hashlib.sha256(state).hexdigest() != document.get("state_sha256"):
        raise SketchError("the export's state does not match its state_sha256: the file was altered or cut")
    counter = MauCounter.deserialize(state, exact_users_max)
    if counter.month != document.get("month"):
        raise SketchError(f"the export says month {document.get('month')!r} but its state is of {counter.month}")
    return AffiliateMonth(affiliate, key_id, counter)


def _check_name(affiliate) -> None:
    if not isinstance(affiliate, str) or not affiliate.strip() or len(affiliate) > AFFILIATE_NAME_CHARS_MAX \
            or any(ord(c) < 32 for c in affiliate):
        raise SketchError(f"an affiliate is named by 1 to {AFFILIATE_NAME_CHARS_MAX} printable characters")
