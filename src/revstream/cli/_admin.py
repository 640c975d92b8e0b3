"""`revstream admin token rotate`: replace the admin token of /admin and the host dashboard.

The store keeps only the token's SHA-256 in `meta`; the gateway, the dashboard and the
transparency endpoints compare against that row on every request (no cache), so the old
token stops working on every worker as soon as the new hash is committed.
"""

from __future__ import annotations

from sqlalchemy import Engine, insert, update

from ..keys import hash_secret, new_admin_token
from ..store import metadata
from ._output import JSON_HELP, print_json

# The meta row the gateway reads (revstream.gateway._auth.ADMIN_TOKEN_META_KEY; pinned by a
# test). Not imported from there: that would load the web stack for a one-line command.
ADMIN_TOKEN_META_KEY = "admin_token_sha256"


def add_parsers(commands) -> None:
    admin = commands.add_parser("admin", help="host administration").add_subparsers(dest="action", required=True)
    token = admin.add_parser("token", help="the admin token (of /admin and the host dashboard)")
    rotate = token.add_subparsers(dest="token_action", required=True).add_parser(
        "rotate", help="replace the admin token: the new one is printed once, the old one stops working at once")
    rotate.add_argument("--json", action="store_true", help=JSON_HELP)


def handles(args) -> bool:
    return args.command == "admin"


def rotate_admin_token(engine: Engine) -> str:
    """A new admin token; its hash replaces the old one (or is the first). Returned once."""
    token = new_admin_token()
    meta = metadata.tables["meta"]
    with engine.begin() as connection:
        changed = connection.execute(
            update(meta).where(meta.c.key == ADMIN_TOKEN_META_KEY).values(value=hash_secret(token))
        ).rowcount
        if not changed:
            connection.execute(insert(meta).values(key=ADMIN_TOKEN_META_KEY, value=hash_secret(token)))
    return token


def run(args, engine) -> int:
    token = rotate_admin_token(engine)
    if args.json:
        print_json({"admin_token": token})
    else:
        print(f"{token}\n\nThe new admin token, shown once (only its SHA-256 is stored). "
              "The old token no longer works, on every worker of the server.")
    return 0
