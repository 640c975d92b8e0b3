"""Failures answer what they are (issue 12, item 8): a database outage is a 503 the client
may retry, Redis is on /health, no error shows a caller an internal host or port, an unknown
token on the transparency log is 401, dashboard dates past year 9998 are a 400, and the
README's page bound of /transparency/entries is the one the code serves."""

from __future__ import annotations

import re
import secrets

import httpx
import psycopg
import pytest

from revstream.gateway._auth import ADMIN_TOKEN_META_KEY
from revstream.keys import hash_secret
from revstream.store import LOG_ENTRIES_PAGE_MAX, put_meta_if_absent

from conftest import POSTGRES_ADMIN_URL, REDIS_URL, REPO, free_port
from inprocess import InProcessServer
from waiting import wait_until

PROMPT = [{"role": "user", "content": "a b"}]


def chat(server, key: str | None = None, model: str = "fake-echo") -> httpx.Response:
    return httpx.post(server.v1 + "/chat/completions", json={"model": model, "messages": PROMPT, "max_tokens": 5},
                      headers={"Authorization": f"Bearer {key or server.key}"}, timeout=30)


def assert_no_address(response: httpx.Response, *addresses: str) -> None:
    for address in addresses:
        assert address not in response.text, f"{address!r} shown to the caller: {response.text}"


# --- the database ----------------------------------------------------------------------------

def _allow_connections(database: str, allowed: bool) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))


@pytest.mark.postgres
def test_a_database_outage_is_503_that_says_retry(postgres_url, tmp_path):
    """The server's own PostgreSQL database refuses connections (and its open ones are cut),
    then comes back: requests meanwhile are 503 with x-should-retry and Retry-After, never a 500,
    and never name the database's host or port."""
    database = postgres_url.rsplit("/", 1)[1]
    with InProcessServer(postgres_url, tmp_path) as server:
        assert chat(server).status_code == 200
        _allow_connections(database, False)
        try:
            for response in (chat(server), httpx.get(server.v1 + "/models",
                                                     headers={"Authorization": f"Bearer {server.key}"})):
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "store_unavailable"
                assert response.json()["error"]["type"] == "server_error"
                assert response.headers["x-should-retry"] == "true"
                assert int(response.headers["retry-after"]) >= 1
                assert_no_address(response, "5432", "127.0.0.1", database)
            health = httpx.get(server.base_url + "/health", timeout=30)
            assert health.status_code == 503 and health.json()["store"]["ready"] is False
            assert_no_address(health, "5432", "127.0.0.1")
        finally:
            _allow_connections(database, True)
        wait_until(lambda: chat(server).status_code == 200, 30, "service after the database came back")


# --- Redis -----------------------------------------------------------------------------------

@pytest.mark.redis
def test_health_reports_redis_when_it_holds_the_rate_limits(tmp_path):
    with InProcessServer(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, redis_url=REDIS_URL) as server:
        health = httpx.get(server.base_url + "/health").json()
    assert health["rate_limiter"] == {"ready": True, "shared": True, "detail": "ok"}


def test_health_reports_the_in_process_rate_limiter_without_redis(tmp_path):
    with InProcessServer(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as server:
        health = httpx.get(server.base_url + "/health").json()
    assert health["rate_limiter"] == {"ready": True, "shared": False, "detail": "in-process"}


def test_redis_down_is_503_naming_no_host_or_port(tmp_path):
    port = str(free_port())  # nothing listens there
    with InProcessServer(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, redis_url=f"redis://127.0.0.1:{port}/0") as server:
        limited = server.new_key("limited", requests_per_minute=60)  # an unlimited key needs no counter
        response = chat(server, limited)
        health = httpx.get(server.base_url + "/health", timeout=30)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "rate_limiter_unavailable"
    assert response.headers["x-should-retry"] == "true" and int(response.headers["retry-after"]) >= 1
    assert_no_address(response, port, "127.0.0.1", "redis://")
    assert health.status_code == 503
    assert health.json()["rate_limiter"]["ready"] is False and health.json()["rate_limiter"]["shared"] is True
    assert_no_address(health, port, "127.0.0.1")


# --- transparency log tokens -----------------------------------------------------------------

def test_an_unknown_token_on_the_transparency_log_is_401_like_the_dashboard(tmp_path):
    with InProcessServer(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as server:
        admin = "rsadmin-" + secrets.token_urlsafe(16)
        put_meta_if_absent(server.engine, ADMIN_TOKEN_META_KEY, hash_secret(admin))
        url = server.base_url + "/transparency/checkpoint"

        def status(token: str | None) -> int:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return httpx.get(url, headers=headers).status_code

        answers = {"none": status(None), "unknown": status("rslic-not-a-token"), "customer": status(server.key),
                   "admin": status(admin)}
        dashboard = httpx.get(server.base_url + "/dashboard/api/me", headers={"Authorization": "Bearer rslic-not-a-token"})
    assert answers == {"none": 401, "unknown": 401, "customer": 403, "admin": 404}  # 404: no checkpoint yet
    assert dashboard.status_code == 401


# --- dashboard dates -------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"since": "9999-12-30", "until": "9999-12-31"},
    {"since": "9999-12-01", "until": "9999-12-31", "bucket": "month"},
    {"until": "9999-12-31", "bucket": "week"},
    {"until": "0001-01-01", "bucket": "week"},  # the default window would start before year 1
])
def test_dashboard_dates_out_of_range_are_400(tmp_path, params):
    with InProcessServer(f"sqlite:///{tmp_path / 'store.db'}", tmp_path) as server:
        response = httpx.get(server.base_url + "/dashboard/api/customer/usage", params=params,
                             headers={"Authorization": f"Bearer {server.key}"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] in ("since", "until")


# --- the README ------------------------------------------------------------------------------

def test_the_readme_states_the_entries_page_bound_the_code_serves():
    readme = (REPO / "README.md").read_text()
    [line] = [line for line in readme.splitlines() if line.startswith("| `GET /transparency/entries")]
    stated = re.search(r"at most ([\d,]+) per page", line)
    assert stated, line
    assert int(stated.group(1).replace(",", "")) == LOG_ENTRIES_PAGE_MAX
