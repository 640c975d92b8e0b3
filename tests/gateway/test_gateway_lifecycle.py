"""Disconnects, health, metrics, admin and per-customer isolation on the embedded server."""

from __future__ import annotations

import re
import time

import httpx
import openai
import pytest

from waiting import wait_until

MODEL = "smollm2-135m-instruct"
pytestmark = pytest.mark.model


def admin_token(server) -> str:
    match = re.search(r"admin token : (rsadmin-\S+)", server.log())
    assert match, "the first start prints the admin token"
    return match.group(1)


def wait_for_record(server, request_id: str, timeout_s: float = 60) -> dict:
    def final() -> dict | None:
        records = [r for r in server.cli_json("usage") if r["request_id"] == request_id]
        return records[0] if records and records[0]["status"] != "pending" else None

    return wait_until(final, timeout_s, f"usage record {request_id} finalized")


def test_client_leaving_mid_stream_stops_generation_and_is_billed_for_what_was_generated(embedded_server, embedded_key):
    body = {"model": MODEL, "prompt": "1, 2, 3, 4,", "max_tokens": 1500, "temperature": 0, "stream": True}
    headers = {"Authorization": f"Bearer {embedded_key}"}
    with httpx.stream("POST", embedded_server.v1 + "/completions", json=body, headers=headers, timeout=60) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        received = 0
        for line in response.iter_lines():
            if line.startswith("data: "):
                received += 1
            if received >= 3:
                break
    record = wait_for_record(embedded_server, request_id)
    assert record["status"] == "aborted"
    assert record["error_code"] == "client_disconnected"
    # Generation stopped soon after the client left: far fewer than the 1500 allowed.
    assert 3 <= record["tokens_completion"] < 300
    # The next request is served at once: the model is not still busy with the abandoned one.
    client = openai.OpenAI(base_url=embedded_server.v1, api_key=embedded_key, max_retries=0)
    started = time.monotonic()
    client.completions.create(model=MODEL, prompt="Hi", max_tokens=1)
    assert time.monotonic() - started < 10


def test_health_reports_process_store_and_backend(embedded_server):
    health = httpx.get(embedded_server.base_url + "/health").json()
    assert health["status"] == "ok"
    assert health["store"]["ready"] and health["process"]["ready"]
    assert health["backends"][MODEL]["ready"] is True


def test_metrics_count_requests_and_tokens_by_model_and_status(embedded_server, embedded_key):
    client = openai.OpenAI(base_url=embedded_server.v1, api_key=embedded_key, max_retries=0)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "Hi"}])
    text = httpx.get(embedded_server.base_url + "/metrics").text
    assert re.search(r'revstream_requests_total\{endpoint="chat",model="smollm2-135m-instruct",status="200"\} [1-9]', text)
    assert re.search(r'revstream_requests_total\{endpoint="chat",model="-",status="404"\} [1-9]', text)
    assert re.search(r'revstream_tokens_total\{kind="completion",model="smollm2-135m-instruct"\} [1-9]', text)
    assert "revstream_request_duration_seconds_bucket" in text


def test_admin_api_needs_the_admin_token_not_a_customer_key(embedded_server, embedded_key):
    url = embedded_server.base_url + "/admin/keys"
    assert httpx.get(url).status_code == 401
    forbidden = httpx.get(url, headers={"Authorization": f"Bearer {embedded_key}"})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    admin = {"Authorization": f"Bearer {admin_token(embedded_server)}"}
    created = httpx.post(url, json={"customer": "via-admin"}, headers=admin)
    assert created.status_code == 201
    key = created.json()["key"]
    listed = httpx.get(url, headers=admin).json()["data"]
    assert any(k["key_id"] == created.json()["key_id"] for k in listed)
    assert all("key" not in k for k in listed), "listings never show a key"
    assert openai.OpenAI(base_url=embedded_server.v1, api_key=key).models.list().data
    revoked = httpx.delete(f"{url}/{created.json()['key_id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert httpx.delete(f"{url}/key_missing", headers=admin).status_code == 404


def test_a_customer_sees_only_its_own_usage(embedded_server):
    alice = embedded_server.new_key("alice")
    bob = embedded_server.new_key("bob")
    for key in (alice, bob):
        openai.OpenAI(base_url=embedded_server.v1, api_key=key).completions.create(model=MODEL, prompt="Hi", max_tokens=1)
    def mine(key):
        response = httpx.get(embedded_server.v1 + "/usage", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
        return response.json()["data"]
    alice_records, bob_records = mine(alice), mine(bob)
    assert len(alice_records) == 1 and len(bob_records) == 1
    assert alice_records[0]["customer_id"] != bob_records[0]["customer_id"]
    assert alice_records[0]["request_id"] != bob_records[0]["request_id"]


def test_own_usage_can_be_filtered_by_time_and_a_bad_time_is_400(embedded_server):
    key = embedded_server.new_key("timely")
    openai.OpenAI(base_url=embedded_server.v1, api_key=key).completions.create(model=MODEL, prompt="Hi", max_tokens=1)
    headers = {"Authorization": f"Bearer {key}"}
    past = httpx.get(embedded_server.v1 + "/usage", params={"since": "2020-01-01"}, headers=headers)
    assert past.status_code == 200 and len(past.json()["data"]) == 1
    future = httpx.get(embedded_server.v1 + "/usage", params={"since": "2999-01-01"}, headers=headers)
    assert future.status_code == 200 and future.json()["data"] == []
    bad = httpx.get(embedded_server.v1 + "/usage", params={"since": "yesterday"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "since"
