"""Messages priced per second by the pure messaging core, against a bare dict lookup.

Usage: python bench/messaging.py [--messages N] [--repeat R] [--quiet-wait S] [--json]

Prepares N outbound messages of a realistic mix (free-form replies inside the service
window, utility inside and outside it, marketing, authentication and
authentication-international, replies that open a free entry window, volume-tiered
utility) over two markets, then measures in the same run:

  * quotes/s: `quote_message` for each message (windows, opt-ins, template state and
    category at the send time, card version in force, tier place);
  * cycles/s: quote + `accept_message` + `apply_status(delivered)` + the tier counter +
    `message_leaf`: everything the core does for one message from send to log leaf;
  * baseline: a bare dict lookup of a price by (market, category) per message, the
    floor of "pricing a message".

Best of R runs for each. Prints figures and the ratios to the baseline; asserts
nothing. The store-backed booking rate (SQLite, PostgreSQL; target >= 10,000/s on
SQLite) comes with the integration, which writes what these functions return.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import OTHER_CPU_SHARE_WARN, OtherLoad, progress, ratio, wait_for_quiet
from revstream.messaging import (
    Contact,
    OptIn,
    Outbound,
    RateCard,
    Sender,
    StatusUpdate,
    TemplateChange,
    Windows,
    accept_message,
    apply_status,
    attribute_model,
    draft_template,
    instant_us,
    message_leaf,
    on_inbound,
    parse_rate_card_csv,
    quote_message,
)

RATE_CARD = Path(__file__).resolve().parent.parent / "tests" / "messaging" / "fixtures" / "ratecard_scenarios.csv"
HOUR_US = 3_600_000_000
PSEUDONYM = "ab" * 32


def _templates(at_us: int) -> dict:
    def approved(name: str, category: str, body: str):
        return draft_template(name, "en_US", category, body, at_us).with_change(
            TemplateChange(at_us, review_state="approved"))
    return {"utility": approved("order_update", "utility", "Order {{1}} shipped"),
            "marketing": approved("summer_sale", "marketing", "Hi {{1}}, 20% off"),
            "authentication": approved("login_code", "authentication", "{{1}} is your code")}


def prepare(count: int) -> tuple[list, RateCard]:
    """N (sender, contact, windows, outbound) cases, deterministic."""
    card = RateCard(parse_rate_card_csv(RATE_CARD.read_text()))
    start = instant_us("2025-07-10T09:00:00Z")
    early = instant_us("2025-01-01")
    templates = _templates(early)
    consent = (OptIn("messaging", True, early), OptIn("marketing", True, early))
    contacts = [Contact(f"c{i}", "IN" if i % 3 else "BR", consent) for i in range(64)]
    senders = [Sender("acme", "USD", "GB"), Sender("globex", "USD", "GB", auth_international_eligible=True)]
    cases = []
    for index in range(count):
        at_us = start + (index % 500) * HOUR_US // 10
        contact = contacts[index % len(contacts)]
        kind = index % 7
        windows = Windows()
        if kind in (0, 1, 5):  # the contact wrote an hour ago (5: through an ad)
            windows = on_inbound(windows, at_us - HOUR_US, entry_point=kind == 5)
        if kind in (0, 5):
            outbound = Outbound("text", at_us, text="Thanks, looking into it")
        else:
            category = {1: "utility", 2: "utility", 3: "marketing", 4: "authentication", 6: "marketing"}[kind]
            outbound = Outbound("template", at_us, template=templates[category], parameters=("A-1042",))
        cases.append((senders[index % 2], contact, windows, outbound))
    return cases, card


def run_quotes(cases: list, card: RateCard) -> float:
    counts: dict = {}
    started = time.perf_counter()
    for sender, contact, windows, outbound in cases:
        quote_message(sender=sender, channel="whatsapp", contact=contact, windows=windows, outbound=outbound,
                      card=card, counts=counts, costed=True)
    return time.perf_counter() - started


def run_cycles(cases: list, card: RateCard) -> float:
    counts: dict = {}
    model, attribution = attribute_model(None, None, None, "smollm2-135m-instruct")
    started = time.perf_counter()
    for index, (sender, contact, windows, outbound) in enumerate(cases):
        quote, _ = quote_message(sender=sender, channel="whatsapp", contact=contact, windows=windows,
                                 outbound=outbound, card=card, counts=counts, costed=True)
        record = accept_message(f"m{index}", quote, platform_id=f"wamid.{index}")
        key = quote.tier_key
        transition = apply_status(record, StatusUpdate(record.platform_id, "1", "delivered", quote.time_us + 1),
                                  counts.get(key, 0))
        if transition.counted:
            counts[key] = counts.get(key, 0) + 1
        message_leaf(transition.record, business=PSEUDONYM, conversation=PSEUDONYM, model=model, attribution=attribution)
    return time.perf_counter() - started


def run_baseline(cases: list) -> float:
    prices = {(market, category): 1_000_000 + i for i, (market, category) in enumerate(
        (m, c) for m in ("IN", "BR") for c in ("service", "utility", "marketing", "authentication"))}
    total = 0
    started = time.perf_counter()
    for _sender, contact, _windows, outbound in cases:
        category = outbound.template.changes[0].category if outbound.template is not None else "service"
        total += prices[(contact.market, category)]
    elapsed = time.perf_counter() - started
    if total <= 0:
        raise SystemExit("baseline computed nothing")
    return elapsed


def best_of(repeat: int, function, *args) -> tuple[float, dict]:
    best, load_figures = float("inf"), {}
    for _ in range(repeat):
        with OtherLoad([]) as load:
            elapsed = function(*args)
        if elapsed < best:
            best, load_figures = elapsed, load.figures
    return best, load_figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=0.0,
                        help="wait up to S seconds for the rest of the machine to go quiet first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quiet_wait > 0:
        wait_for_quiet(args.quiet_wait)
    progress(f"preparing {args.messages} messages")
    cases, card = prepare(args.messages)
    progress("measuring")
    quote_s, quote_load = best_of(args.repeat, run_quotes, cases, card)
    cycle_s, cycle_load = best_of(args.repeat, run_cycles, cases, card)
    base_s, _ = best_of(args.repeat, run_baseline, cases)
    figures = {
        "messages": args.messages,
        "quotes_per_s": args.messages / quote_s,
        "cycles_per_s": args.messages / cycle_s,
        "baseline_dict_lookups_per_s": args.messages / base_s,
        "quote_us_mean": quote_s / args.messages * 1e6,
        "cycle_us_mean": cycle_s / args.messages * 1e6,
        "quotes_to_baseline": ratio(base_s, quote_s),
        "cycles_to_baseline": ratio(base_s, cycle_s),
        "machine_other_cpu_share": max(quote_load.get("machine_other_cpu_share", 0.0),
                                       cycle_load.get("machine_other_cpu_share", 0.0)),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"messages                {figures['messages']:>12,}")
    print(f"quotes/s (pure core)    {figures['quotes_per_s']:>12,.0f}   {figures['quote_us_mean']:.1f} µs each")
    print(f"cycles/s (quote->leaf)  {figures['cycles_per_s']:>12,.0f}   {figures['cycle_us_mean']:.1f} µs each")
    print(f"baseline dict lookups/s {figures['baseline_dict_lookups_per_s']:>12,.0f}")
    print(f"ratio quotes : baseline {figures['quotes_to_baseline']:>12.4f}")
    print(f"ratio cycles : baseline {figures['cycles_to_baseline']:>12.4f}")
    if figures["machine_other_cpu_share"] > OTHER_CPU_SHARE_WARN:
        print(f"warning: other work used {figures['machine_other_cpu_share']:.0%} of the CPU during the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
