"""Who is looking: the token decides the view.

The admin token (printed by the first `revstream serve`) sees the host view; a licensor
token (`revstream licensors token NAME`) sees that licensor's statements; a customer API
key sees that customer's own usage and balance, never anyone else's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine

from ..keys import hash_secret, secrets_equal
from ..store import advertiser_of_token, find_key, find_licensor_token, get_meta, holder_of_token_sha256, licensor_name
from ._errors import Forbidden, Unauthenticated

HOST, LICENSOR, CUSTOMER = "host", "licensor", "customer"
HOLDER = "holder"  # recitation (issue 16): a rights holder's token (`revstream holders token NAME`)
ADVERTISER = "advertiser"  # ads (issue 13): `revstream advertisers token NAME`
# Where `revstream serve` keeps the admin token's SHA-256 (the gateway's ADMIN_TOKEN_META_KEY;
# a test pins the two together).
ADMIN_TOKEN_META_KEY: Final = "admin_token_sha256"


@dataclass(frozen=True, slots=True)
class Viewer:
    view: str  # HOST, LICENSOR, CUSTOMER or HOLDER
    name: str
    subject_id: str | None  # the licensor, customer or holder id; None for the host


def token_of(headers) -> str:
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the dashboard needs a token: Authorization: Bearer <admin token, licensor token "
                              "or API key>")
    return token.strip()


def resolve_viewer(engine: Engine, token: str) -> Viewer:
    """The viewer a token belongs to (reads the store; run it in a thread)."""
    digest = hash_secret(token)
    admin = get_meta(engine, ADMIN_TOKEN_META_KEY)
    if admin is not None and secrets_equal(admin, digest):
        return Viewer(HOST, "host", None)
    licensor_id = find_licensor_token(engine, digest)
    if licensor_id is not None:
        return Viewer(LICENSOR, licensor_name(engine, licensor_id) or licensor_id, licensor_id)
    holder = holder_of_token_sha256(engine, digest)  # recitation (issue 16)
    if holder is not None:
        return Viewer(HOLDER, holder[1], holder[0])
    key = find_key(engine, digest)
    if key is not None and key.revoked_us is None:
        return Viewer(CUSTOMER, key.customer, key.customer_id)
    advertiser = advertiser_of_token(engine, token)  # ads (issue 13)
    if advertiser is not None:
        return Viewer(ADVERTISER, advertiser.name, advertiser.advertiser_id)
    raise Unauthenticated("the token is unknown or revoked")


def require(viewer: Viewer, *views: str) -> Viewer:
    if viewer.view not in views:
        raise Forbidden(f"the {viewer.view} view cannot read this: it needs a {' or '.join(views)} token")
    return viewer
