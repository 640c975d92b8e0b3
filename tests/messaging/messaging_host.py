"""A real gateway in this process (uvicorn on a free port) serving the real embedded model
(llama.cpp, SmolLM2), with a clock the test moves: windows open and close, and a month can
be closed and verified for real."""

from __future__ import annotations

from pathlib import Path

import httpx

from revstream.config import Config, ServerConfig, StoreConfig, TransparencyConfig
from revstream.config._load import embedded_model

from conftest import WAIT_S, Clock, ServedGateway, wait_until  # noqa: F401 (re-exported for the tests)


class Host(ServedGateway):
    start_timeout_s = 300.0  # the embedded model loads first

    def __init__(self, database_url: str, home: Path, clock: Clock, origin: str = "messaging.test/log") -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.config = Config(
            home=home, server=ServerConfig(auth_cache_ttl_s=0), store=StoreConfig(database_url=database_url),
            models=(embedded_model(),),
            transparency=TransparencyConfig(origin=origin, log_append_interval_s=0.2, checkpoint_interval_s=3600),
        )
        super().__init__(self.config, clock=clock)

    def post(self, path: str, key: str | None = None, **kwargs) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.post(self.base_url + path, headers={**headers, **kwargs.pop("headers", {})}, timeout=WAIT_S,
                          **kwargs)

    def get(self, path: str, key: str | None = None, **kwargs) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.base_url + path, headers=headers, timeout=WAIT_S, **kwargs)
