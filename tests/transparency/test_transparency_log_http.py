"""The transparency log served by a real gateway: every proof verifies against the signed checkpoint."""

from __future__ import annotations

import base64
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))

from fake_backend import FakeBackend  # noqa: E402
from inprocess import InProcessServer  # noqa: E402

from revstream.backends import BACKEND_CLASSES  # noqa: E402

from revstream.config import TransparencyConfig  # noqa: E402
from revstream.keys import hash_secret, new_admin_token  # noqa: E402
from revstream.store import add_licensor, create_licensor_token, init_log_key, log_size, put_meta_if_absent  # noqa: E402
from revstream.store._schema import log_leaves  # noqa: E402
from revstream.transparency import (  # noqa: E402
    ProofError,
    leaf_hash,
    parse_checkpoint,
    root_hash,
    verify_consistency,
    verify_inclusion,
    verify_note,
)

REQUESTS = 6
FAST = TransparencyConfig(origin="example.com/log", log_append_interval_s=0.05, checkpoint_interval_s=3600,
                          checkpoint_records=1)


def _b64(values) -> list[bytes]:
    return [base64.b64decode(value) for value in values]


@pytest.fixture
def served(database_url, tmp_path, monkeypatch):
    monkeypatch.setitem(BACKEND_CLASSES, "fake", FakeBackend)
    server = InProcessServer(database_url, tmp_path, transparency=FAST)
    vkey = init_log_key(server.engine, "example.com/log")
    now_us = time.time_ns() // 1000
    add_licensor(server.engine, "Meta", now_us)
    licensor_token = create_licensor_token(server.engine, "Meta", now_us)[0]
    admin_token = new_admin_token()
    put_meta_if_absent(server.engine, "admin_token_sha256", hash_secret(admin_token))
    with server:
        client = server.client()
        for _ in range(REQUESTS):
            client.chat.completions.create(model="fake-echo", messages=[{"role": "user", "content": "hi"}])
        http = httpx.Client(base_url=f"http://127.0.0.1:{server.port}",
                            headers={"authorization": f"Bearer {licensor_token}"}, timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            response = http.get("/transparency/checkpoint")
            if response.status_code == 200 and parse_checkpoint(verify_note(response.text, [vkey])).size == REQUESTS:
                break
            time.sleep(0.05)
        yield server, http, vkey, admin_token
        http.close()


def test_every_proof_verifies_against_the_signed_checkpoint(served):
    server, http, vkey, _ = served
    response = http.get("/transparency/checkpoint")
    assert response.headers["content-type"].startswith("text/plain")
    checkpoint = parse_checkpoint(verify_note(response.text, [vkey]))
    assert (checkpoint.origin, checkpoint.size) == ("example.com/log", REQUESTS)
    page = http.get("/transparency/entries", params={"start": 0, "end": REQUESTS}).json()
    leaves = _b64(page["entries"])
    assert (page["start"], page["end"], len(leaves)) == (0, REQUESTS, REQUESTS)
    assert root_hash(leaves) == checkpoint.root
    assert b"fake-echo" in leaves[0] and b"pipeline" not in b"".join(leaves)
    for size in range(1, REQUESTS + 1):
        root = root_hash(leaves[:size])
        for index in range(size):
            proof = http.get("/transparency/proof/inclusion", params={"index": index, "size": size}).json()
            assert (proof["index"], proof["size"]) == (index, size)
            verify_inclusion(leaf_hash(leaves[index]), index, size, _b64(proof["hashes"]), root)
        proof = http.get("/transparency/proof/consistency", params={"old": size, "new": REQUESTS}).json()
        verify_consistency(size, REQUESTS, _b64(proof["hashes"]), root, checkpoint.root)
    health = http.get("/health").json()["transparency_log"]
    assert health["signing"] and health["ready"] and health["checkpoint_size"] == REQUESTS


def test_a_changed_leaf_fails_its_inclusion_proof(served):
    server, http, vkey, _ = served
    checkpoint = parse_checkpoint(verify_note(http.get("/transparency/checkpoint").text, [vkey]))
    with server.engine.begin() as connection:
        stored = connection.execute(select(log_leaves.c.data).where(log_leaves.c.leaf_index == 1)).scalar()
        connection.execute(update(log_leaves).where(log_leaves.c.leaf_index == 1)
                           .values(data=bytes(stored).replace(b'"tokens_completion":', b'"tokens_completion":1')))
    leaf = _b64(http.get("/transparency/entries", params={"start": 1, "end": 2}).json()["entries"])[0]
    proof = http.get("/transparency/proof/inclusion", params={"index": 1, "size": checkpoint.size}).json()
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(leaf), 1, checkpoint.size, _b64(proof["hashes"]), checkpoint.root)


@pytest.mark.parametrize("path, params", [
    ("/transparency/proof/inclusion", {"index": REQUESTS, "size": REQUESTS}),
    ("/transparency/proof/inclusion", {"index": 0, "size": REQUESTS + 1}),
    ("/transparency/proof/inclusion", {"index": 0}),
    ("/transparency/proof/inclusion", {"index": "x", "size": 2}),
    ("/transparency/proof/inclusion", {"index": -1, "size": 2}),
    ("/transparency/proof/consistency", {"old": 3, "new": 2}),
    ("/transparency/proof/consistency", {"old": 1, "new": REQUESTS + 1}),
    ("/transparency/entries", {"start": 3, "end": 2}),
    ("/transparency/entries", {"start": 0, "end": REQUESTS + 1}),
    ("/transparency/entries", {"start": "1.5", "end": 2}),
])
def test_bad_ranges_answer_400(served, path, params):
    _, http, _, _ = served
    response = http.get(path, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


def test_only_licensor_and_admin_tokens_read_the_log(served):
    server, http, _, admin_token = served
    url = http.base_url.join("/transparency/checkpoint")
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Bearer {server.key}"}).status_code == 403
    assert httpx.get(url, headers={"authorization": f"Bearer {admin_token}"}).status_code == 200


def test_final_records_wait_in_the_outbox_until_the_log_is_initialized(sqlite_url_and_path, monkeypatch):
    database_url, path = sqlite_url_and_path
    monkeypatch.setitem(BACKEND_CLASSES, "fake", FakeBackend)
    server = InProcessServer(database_url, path, transparency=FAST)
    with server:
        client = server.client()
        for _ in range(3):
            client.chat.completions.create(model="fake-echo", messages=[{"role": "user", "content": "hi"}])
        time.sleep(0.5)  # ten appender intervals
        assert log_size(server.engine) == 0, "no log is kept before `revstream log init`"
        init_log_key(server.engine, "example.com/log")
        deadline = time.monotonic() + 20
        while log_size(server.engine) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log_size(server.engine) == 3, "every waiting record is appended once the log exists"


@pytest.fixture
def sqlite_url_and_path(tmp_path):
    return f"sqlite:///{tmp_path / 'store.db'}", tmp_path
