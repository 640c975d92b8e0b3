"""The real server on the real PostgreSQL with two worker processes and the embedded model."""

from __future__ import annotations

import concurrent.futures
import re

import httpx
import openai
import pytest

from conftest import start_server

pytestmark = [pytest.mark.model, pytest.mark.postgres]


def test_two_workers_on_postgres_record_every_request_once(tmp_path, postgres_url):
    config = f'[store]\ndatabase_url = "{postgres_url}"\n'
    server = start_server(tmp_path / "home", config=config, workers=2)
    try:
        key = server.new_key("fleet")
        client = openai.OpenAI(base_url=server.v1, api_key=key, max_retries=0, timeout=120)

        def call(index: int) -> str:
            raw = client.completions.with_raw_response.create(
                model="smollm2", prompt=f"Count: {index},", max_tokens=3, temperature=0
            )
            return raw.headers["x-request-id"]

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            request_ids = set(pool.map(call, range(8)))
        records = server.cli_json("usage")
        assert {r["request_id"] for r in records} == request_ids
        assert all(r["status"] == "ok" and r["tokens_completion"] == 3 for r in records)
        # /metrics aggregates both workers' samples.
        text = httpx.get(server.base_url + "/metrics").text
        counts = re.findall(r'revstream_requests_total\{endpoint="completion",model="smollm2-135m-instruct",status="200"\} (\S+)', text)
        assert counts and float(counts[0]) == 8.0
    finally:
        server.stop()
