"""`revstream channels|contacts|templates|ratecards|messages ...`: paid business messaging
(issue 14). Channels of a business, contacts with opt-in records, templates with their
category and review history, the rate card, and the period's messaging report."""

from __future__ import annotations

import time
from pathlib import Path

from ..messaging import (
    CHANNEL_KINDS,
    OPT_IN_SCOPES,
    REVIEW_STATES,
    TEMPLATE_CATEGORIES,
    MessagingError,
    instant_us,
    parse_rate_card_csv,
)
from ..money import format_nanos_exact
from ..store import (
    add_channel,
    add_contact,
    add_template,
    import_rate_card,
    list_channels,
    list_templates,
    messages_report,
    record_opt_in,
    set_channel_ai,
    set_template,
)
from ._output import JSON_HELP, fail, print_json, print_table

COMMANDS = ("channels", "contacts", "templates", "ratecards", "messages")
READ_ONLY = frozenset({("channels", "list"), ("templates", "list"), ("messages", "report")})
RATE_CARD_BYTES_MAX = 16 * 1024 * 1024
AT_HELP = "when it takes effect: ISO 8601 date or time, UTC if no zone (default: now)"


def _json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help=JSON_HELP)


def _channels(commands) -> None:
    channels = commands.add_parser("channels", help="a business's messaging channels").add_subparsers(
        dest="action", required=True)
    add = channels.add_parser("add", help="add a channel to a business (a customer, created if new)")
    add.add_argument("--customer", required=True, help="the business: a customer's name")
    add.add_argument("--kind", required=True, choices=CHANNEL_KINDS, help="webchat (built in) or whatsapp (Cloud API)")
    add.add_argument("--phone-number-id", help="whatsapp: the Cloud API phone number id (digits)")
    add.add_argument("--app-secret-env", help="whatsapp: NAME of the environment variable holding the app secret "
                     "(webhook signatures); the secret itself is never stored")
    add.add_argument("--access-token-env", help="whatsapp: NAME of the environment variable holding the access token")
    add.add_argument("--verify-token-env", help="whatsapp: NAME of the environment variable holding the verify token "
                     "of the webhook subscription (GET /webhooks/whatsapp/CHANNEL answers its challenge)")
    add.add_argument("--market", help="rate-card market of webchat visitors and unknown senders (default: OTHER)")
    add.add_argument("--country", help="the business's own market, for authentication-international (default: --market)")
    add.add_argument("--auth-international", action="store_true",
                     help="the platform made the business eligible for authentication-international rates")
    add.add_argument("--ai-model", help="answer inbound messages inside the window with this served model")
    _json_flag(add)
    listing = channels.add_parser("list", help="list channels")
    listing.add_argument("--customer", help="only this business's channels")
    _json_flag(listing)
    ai = channels.add_parser("ai", help="turn AI replies of a channel on or off")
    ai.add_argument("channel_id", help="the channel's id (chn_...)")
    ai.add_argument("--model", help="the served model that answers (omit to turn AI replies off)")
    _json_flag(ai)


def _contacts(commands) -> None:
    contacts = commands.add_parser("contacts", help="a channel's contacts and their opt-in records").add_subparsers(
        dest="action", required=True)
    add = contacts.add_parser("add", help="add a contact to a channel")
    add.add_argument("--channel", required=True, help="the channel's id (chn_...)")
    add.add_argument("--address", required=True, help="the contact's address: an E.164 number, a webchat session")
    add.add_argument("--market", required=True, help="the contact's rate-card market (e.g. IN, BR)")
    add.add_argument("--opt-in", action="append", default=[], choices=OPT_IN_SCOPES,
                     help="record an opt-in now (repeat for messaging and marketing)")
    _json_flag(add)
    opt = contacts.add_parser("opt-in", help="record an opt-in or a withdrawal")
    opt.add_argument("--channel", required=True, help="the channel's id (chn_...)")
    opt.add_argument("--address", required=True, help="the contact's address")
    opt.add_argument("--scope", required=True, choices=OPT_IN_SCOPES, help="messaging, or marketing (kept separate)")
    opt.add_argument("--withdraw", action="store_true", help="record a withdrawal instead of a grant")
    opt.add_argument("--at", help=AT_HELP)
    opt.add_argument("--source", default="", help="where the consent was given (a form, a keyword)")
    _json_flag(opt)


def _templates(commands) -> None:
    templates = commands.add_parser("templates", help="a business's message templates").add_subparsers(
        dest="action", required=True)
    add = templates.add_parser("add", help="add a template (pending review unless --state says otherwise)")
    add.add_argument("--customer", required=True, help="the business: a customer's name")
    add.add_argument("--name", required=True, help="lower-case name (a-z 0-9 _)")
    add.add_argument("--language", required=True, help="language code, e.g. en or en_US")
    add.add_argument("--category", required=True, choices=TEMPLATE_CATEGORIES, help="the requested category")
    add.add_argument("--body", required=True, help="the text, with parameters {{1}}..{{n}}")
    add.add_argument("--state", choices=REVIEW_STATES, help="the review outcome known already (e.g. approved)")
    add.add_argument("--at", help=AT_HELP)
    _json_flag(add)
    change = templates.add_parser("set", help="record a review outcome or a re-categorization from a time on")
    change.add_argument("--customer", required=True, help="the business: a customer's name")
    change.add_argument("--name", required=True, help="the template's name")
    change.add_argument("--language", help="its language (needed when it exists in several)")
    change.add_argument("--category", choices=TEMPLATE_CATEGORIES, help="the new category")
    change.add_argument("--state", choices=REVIEW_STATES, help="the new review state")
    change.add_argument("--at", help=AT_HELP)
    _json_flag(change)
    listing = templates.add_parser("list", help="list a business's templates with their history")
    listing.add_argument("--customer", required=True, help="the business: a customer's name")
    _json_flag(listing)


def add_parsers(commands) -> None:
    _channels(commands)
    _contacts(commands)
    _templates(commands)
    ratecards = commands.add_parser("ratecards", help="messaging rate cards").add_subparsers(dest="action", required=True)
    load = ratecards.add_parser("import", help="import a rate card CSV: market,category,currency,price,effective_from"
                                "[,tier_from,tier_to][,channel][,book]")
    load.add_argument("file", help="the CSV file (header line required)")
    _json_flag(load)
    messages = commands.add_parser("messages", help="business messages").add_subparsers(dest="action", required=True)
    report = messages.add_parser("report", help="a month's messages: fees, platform costs, margin")
    report.add_argument("--period", required=True, help="the month, YYYY-MM")
    _json_flag(report)


def handles(args) -> bool:
    return args.command in COMMANDS


def _at(text: str | None) -> int:
    return instant_us(text) if text else time.time_ns() // 1000


def _print(args, value, text: str) -> int:
    print_json(value) if args.json else print(text)
    return 0


def run(args, engine) -> int:
    try:
        return _run(args, engine)
    except MessagingError as error:
        return fail(str(error), 2)


def _run(args, engine) -> int:
    now = time.time_ns() // 1000
    key = (args.command, args.action)
    if key == ("channels", "add"):
        channel = add_channel(engine, args.customer, args.kind, now, phone_number_id=args.phone_number_id,
                              app_secret_env=args.app_secret_env, access_token_env=args.access_token_env,
                              ai_model=args.ai_model, market=args.market, country=args.country,
                              auth_international=args.auth_international, verify_token_env=args.verify_token_env)
        return _print(args, channel, f"channel {channel['channel_id']} ({args.kind}) added for {args.customer}")
    if key == ("channels", "list"):
        rows = list_channels(engine, args.customer)
        if args.json:
            print_json(rows)
        else:
            print_table(rows, ("channel_id", "customer", "kind", "phone_number_id", "market", "ai_model"))
        return 0
    if key == ("channels", "ai"):
        channel = set_channel_ai(engine, args.channel_id, args.model)
        return _print(args, channel, f"AI replies of {args.channel_id}: {args.model or 'off'}")
    if key == ("contacts", "add"):
        contact = add_contact(engine, args.channel, args.address, args.market, now)
        for scope in args.opt_in:
            record_opt_in(engine, args.channel, args.address, scope, True, now, "contacts add")
        return _print(args, {**contact, "opt_ins": args.opt_in}, f"contact {contact['contact_id']} added")
    if key == ("contacts", "opt-in"):
        record = record_opt_in(engine, args.channel, args.address, args.scope, not args.withdraw, _at(args.at),
                               args.source)
        return _print(args, record, f"{args.scope} {'withdrawn' if args.withdraw else 'granted'}")
    if key[0] == "templates":
        return _run_templates(args, engine)
    if key == ("ratecards", "import"):
        path = Path(args.file)
        if not path.is_file() or path.stat().st_size > RATE_CARD_BYTES_MAX:
            return fail(f"{args.file}: not a file of at most {RATE_CARD_BYTES_MAX} bytes", 2)
        result = import_rate_card(engine, parse_rate_card_csv(path.read_text(encoding="utf-8")), now)
        return _print(args, result, f"{result['added']} rate rows added, {result['skipped']} already imported")
    return _report(args, engine)


def _run_templates(args, engine) -> int:
    if args.action == "add":
        template = add_template(engine, args.customer, args.name, args.language, args.category, args.body,
                                _at(args.at), args.state)
        return _print(args, template, f"template {args.name} ({args.language}) added")
    if args.action == "set":
        if args.category is None and args.state is None:
            return fail("give --category, --state or both", 2)
        template = set_template(engine, args.customer, args.name, args.language, _at(args.at), args.category, args.state)
        return _print(args, template, f"template {args.name} changed")
    templates = list_templates(engine, args.customer)
    if args.json:
        print_json(templates)
    else:
        print_table([{**t, "category": t["history"][-1]["category"] or "", "changes": len(t["history"])}
                     for t in templates], ("template_id", "name", "language", "parameters", "changes"))
    return 0


def _report(args, engine) -> int:
    report = messages_report(engine, args.period)
    if args.json:
        print_json(report)
        return 0
    print_table([{**line, **{name: format_nanos_exact(line[f"{name}_nanos"], line["currency"])
                             for name in ("fees", "costs", "margin")}} for line in report["lines"]],
                ("channel", "category", "market", "currency", "messages", "delivered", "failed", "fees", "costs",
                 "margin"))
    return 0
