"""A real gateway in this process with an `[ads]` section and the licence tests' echo backend
(answers `Echo.answer`), plus a free-plan customer and an advertiser with a campaign."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path


from revstream.ads import load_taxonomy
from revstream.config import Config, ModelConfig, ServerConfig, StoreConfig, TransparencyConfig
from revstream.config._ads import ads_section
from revstream.plans import draft_plan
from revstream.store._plans import add_plan, subscribe
from revstream.store import (
    add_advertiser,
    add_advertiser_credit,
    add_campaign,
    create_key,
)

from conftest import ServedGateway
from tests.licence.harness import Clock, Echo, Host, wait_until

MODEL = "llama-3.1-8b-instruct"
FREE_PLAN = draft_plan(name="free", kind="free", tokens_per_day=100_000, models=(MODEL,))
ADS_TOML = """
[ads]
reserve_cpm = "1.00"
reserve_cpc = "0.10"
index_refresh_s = 1
"""


def now_us() -> int:
    return time.time_ns() // 1000


class AdsHost(Host):
    """One gateway worker with ads on `database_url` (the licence tests' `Host`, an `[ads]` config)."""

    def __init__(self, database_url: str, home: Path, ads_toml: str = ADS_TOML, backends=None, models=(MODEL,),
                 backend: str = "echo", clock: Clock | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.config = Config(
            home=home, server=ServerConfig(auth_cache_ttl_s=0), store=StoreConfig(database_url=database_url),
            models=tuple(ModelConfig(name=name, backend=backend) for name in models),
            transparency=TransparencyConfig(origin="ads.test/log", log_append_interval_s=0.2,
                                            checkpoint_interval_s=3600),
            ads=ads_section(tomllib.loads(ads_toml).get("ads", {})),
        )
        ServedGateway.__init__(self, self.config, backends=backends or {"echo": Echo}, clock=clock or Clock())
        add_plan(self.engine, FREE_PLAN, now_us())

    def customer(self, name: str, plan: str | None = "free", from_us: int | None = None) -> str:
        """A key of a new customer on `plan` (None: no plan) from `from_us` (default: a second ago)."""
        key = create_key(self.engine, name, now_us())[0]
        if plan is not None:
            subscribe(self.engine, name, plan, from_us or now_us() - 1_000_000, now_us())
        return key

    def campaign(self, advertiser: str = "Trail Co", credit_nanos: int = 10_000_000_000, **terms):
        """A new advertiser with credit, and its campaign on "hiking boots"; the
        gateway sees it at its next index refresh (awaited)."""
        add_advertiser(self.engine, advertiser, f"{advertiser} GmbH", now_us())
        add_advertiser_credit(self.engine, advertiser, credit_nanos, "USD", now_us())
        values = {"title": "Trail boots", "text": "Waterproof hiking boots, 20% off.", "url": "https://trail.example/boots",
                  "currency": "USD", "bid_kind": "cpm", "bid_nanos": 2_000_000_000, "keywords": ("hiking boots",)}
        campaign = add_campaign(self.engine, advertiser, load_taxonomy(), now_us(), **{**values, **terms})
        runtime = self.app.state.ads
        wait_until(lambda: runtime.index is not None and any(c.campaign_id == campaign.campaign_id
                                                             for c in runtime.index.campaigns), "the index refresh")
        return campaign


