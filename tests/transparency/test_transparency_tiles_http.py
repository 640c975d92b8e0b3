"""The log of a real host read as C2SP tlog-tiles: the pure `TileReader` over the host's
`/checkpoint` and `/tile/...`, and over a plain `python -m http.server` of what
`revstream log export-tiles` wrote, reproduces the root, the entries and the proofs of the
JSON endpoints (`/transparency/*`). Exports are incremental and publish the checkpoint last.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))

from conftest import free_port, revstream  # noqa: E402
from fake_backend import FakeBackend  # noqa: E402
from inprocess import InProcessServer  # noqa: E402

from revstream.backends import BACKEND_CLASSES  # noqa: E402
from revstream.config import TransparencyConfig  # noqa: E402
from revstream.pricing import ModelPrice  # noqa: E402
from revstream.store import (  # noqa: E402
    add_licensor,
    create_licensor_token,
    import_usage,
    init_log_key,
    log_size,
    set_price,
)
from revstream.transparency import (  # noqa: E402
    Checkpoint,
    TileReader,
    new_tiles,
    parse_checkpoint,
    tile_path,
    verify_note,
    verify_tiled_entries,
)
from waiting import wait_until  # noqa: E402

ORIGIN = "tiles.test/log"
IMPORTED = 600  # two full level-0 tiles and a partial one: level 1 exists
FAST = TransparencyConfig(origin=ORIGIN, log_append_interval_s=0.05, checkpoint_interval_s=3600, checkpoint_records=1)
NOW_US = time.time_ns() // 1000


def _import(engine, count: int, prefix: str) -> None:
    lines = [json.dumps({"request_id": f"{prefix}-{n}", "time": f"2026-01-{n % 28 + 1:02d}T10:00:00Z",
                         "customer": f"customer-{n % 7}", "model": "llama-imported", "tokens_prompt": 1000 + n,
                         "tokens_completion": 10 + n, "status": "ok"}).encode() + b"\n" for n in range(count)]
    import_usage(engine, lambda: iter(lines), NOW_US)


def _b64(values) -> list[bytes]:
    return [base64.b64decode(value) for value in values]


class Host:
    def __init__(self, server: InProcessServer, vkey: str, token: str) -> None:
        self.server, self.vkey = server, vkey
        self.http = httpx.Client(base_url=server.base_url, timeout=20)
        self.auth = {"authorization": f"Bearer {token}"}

    def checkpoint(self) -> Checkpoint:
        response = self.http.get("/checkpoint")
        assert response.status_code == 200, response.text
        return parse_checkpoint(verify_note(response.text, [self.vkey]))

    def wait_for_checkpoint(self, size: int) -> Checkpoint:
        def signed():
            response = self.http.get("/checkpoint")
            return response.status_code == 200 and parse_checkpoint(verify_note(response.text, [self.vkey])).size == size
        wait_until(signed, 30, f"a checkpoint of {size} leaves")
        return self.checkpoint()

    def fetch(self, path: str) -> bytes | None:
        """A tlog-tiles client's fetch: the licensor token for everything (only bundles need it)."""
        response = self.http.get("/" + path, headers=self.auth)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.content

    def json_entries(self, size: int) -> list[bytes]:
        page = self.http.get("/transparency/entries", params={"start": 0, "end": size}, headers=self.auth).json()
        assert page["end"] == size
        return _b64(page["entries"])

    def json_inclusion(self, index: int, size: int) -> tuple[bytes, ...]:
        params = {"index": index, "size": size}
        return tuple(_b64(self.http.get("/transparency/proof/inclusion", params=params, headers=self.auth).json()["hashes"]))

    def json_consistency(self, old: int, new: int) -> tuple[bytes, ...]:
        params = {"old": old, "new": new}
        return tuple(_b64(self.http.get("/transparency/proof/consistency", params=params, headers=self.auth).json()["hashes"]))


@pytest.fixture
def host(database_url, tmp_path, monkeypatch):
    monkeypatch.setitem(BACKEND_CLASSES, "fake", FakeBackend)
    server = InProcessServer(database_url, tmp_path / "home", transparency=FAST)
    set_price(server.engine, ModelPrice.from_strings("llama-imported", "USD", "1.00", "2.00", date(2020, 1, 1)), NOW_US)
    vkey = init_log_key(server.engine, ORIGIN, NOW_US)
    add_licensor(server.engine, "Tile Labs", NOW_US)
    token = create_licensor_token(server.engine, "Tile Labs", NOW_US)[0]
    _import(server.engine, IMPORTED, "jan")
    with server:
        client = server.client()
        for _ in range(3):
            client.chat.completions.create(model="fake-echo", messages=[{"role": "user", "content": "hi"}])
        host = Host(server, vkey, token)
        host.wait_for_checkpoint(IMPORTED + 3)
        yield host
        host.http.close()


def _same_as_json(host: Host, reader: TileReader, checkpoint: Checkpoint, fetch) -> None:
    """Root, entries, inclusion and consistency proofs read from tiles == the JSON endpoints."""
    size = checkpoint.size
    assert reader.root() == checkpoint.root
    entries = host.json_entries(size)
    assert list(reader.entries(0, size)) == entries
    assert verify_tiled_entries(checkpoint, 0, size, fetch) == tuple(entries)
    assert verify_tiled_entries(checkpoint, 250, 520, fetch) == tuple(entries[250:520])
    for index in (0, 1, 255, 256, 511, 512, size - 1):
        for tree_size in (index + 1, 512, size):
            if index < tree_size <= size:
                assert reader.inclusion_proof(index, tree_size) == host.json_inclusion(index, tree_size)
    for old in (0, 1, 256, 300, 512, size - 1, size):
        assert reader.consistency_proof(old) == host.json_consistency(old, size)


def test_tiles_from_the_host_reproduce_the_json_endpoints(host):
    checkpoint = host.checkpoint()
    assert checkpoint.size == IMPORTED + 3 == log_size(host.server.engine)
    reader = TileReader(checkpoint.size, host.fetch)
    _same_as_json(host, reader, checkpoint, host.fetch)


def test_hash_tiles_and_the_checkpoint_are_public_entry_bundles_need_a_licensor_token(host):
    anonymous = host.http
    checkpoint = anonymous.get("/checkpoint")
    assert checkpoint.headers["content-type"] == "text/plain; charset=utf-8"
    assert checkpoint.headers["cache-control"] == "public, max-age=5"
    tile = anonymous.get("/tile/0/001")
    assert tile.status_code == 200 and len(tile.content) == 256 * 32
    assert tile.headers["content-type"] == "application/octet-stream"
    assert tile.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert anonymous.get("/tile/1/000.p/2").status_code == 200
    assert anonymous.get("/tile/entries/000").status_code == 401
    customer = {"authorization": f"Bearer {host.server.key}"}
    assert anonymous.get("/tile/entries/000", headers=customer).status_code == 403
    bundle = anonymous.get("/tile/entries/000", headers=host.auth)
    assert bundle.status_code == 200
    assert bundle.headers["cache-control"] == "private, max-age=31536000, immutable"


def test_entry_bundles_are_gzipped_when_the_client_accepts_gzip(host):
    plain = host.http.get("/tile/entries/001", headers={**host.auth, "accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    with host.http.stream("GET", "/tile/entries/001", headers={**host.auth, "accept-encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert "Accept-Encoding" in response.headers["vary"]
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content) // 3
    refused = host.http.get("/tile/entries/001", headers={**host.auth, "accept-encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers and refused.content == plain.content


NOT_SERVED = (
    "/tile/0/002",  # the full tile needs 768 leaves
    "/tile/0/002.p/92",  # one leaf beyond the checkpoint
    "/tile/entries/003.p/1",
    "/tile/2/000.p/1",
    "/tile/0/0002",  # not canonical
    "/tile/0/x000/002",
    "/tile/0/002.p/256",
    "/tile/64/000",
    "/tile/data/000",
    "/tile/",
)


def test_a_tile_outside_the_signed_tree_or_not_a_tile_path_is_404_and_not_cached(host):
    for path in NOT_SERVED:
        response = host.http.get(path, headers=host.auth)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["error"]["code"] == "tile_not_found"


# --- export-tiles and a static file server -------------------------------------------------

@pytest.fixture
def static_server(tmp_path):
    root = tmp_path / "public"
    port = free_port()
    root.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _reachable(base), 20, "the static file server")
        yield root, base
    finally:
        process.terminate()
        process.wait(10)


def _reachable(base: str) -> bool:
    try:
        urllib.request.urlopen(base + "/", timeout=1).read()
        return True
    except OSError:
        return False


def _static_fetch(base: str):
    def fetch(path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"{base}/{path}", timeout=10) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
    return fetch


def _export(host: Host, directory: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {"REVSTREAM_DATABASE_URL": host.server.config.store.database_url}
    return revstream("log", "export-tiles", str(directory), "--json", home=host.server.config.home, env=env,
                     check=check)


def _files(directory: Path) -> dict[str, int]:
    return {str(path.relative_to(directory)): path.stat().st_mtime_ns
            for path in directory.rglob("*") if path.is_file()}


def test_an_exported_directory_served_by_a_plain_file_server_reproduces_the_json_endpoints(host, static_server):
    root, base = static_server
    first = json.loads(_export(host, root).stdout)
    checkpoint = host.checkpoint()
    assert (first["previous_size"], first["size"]) == (0, checkpoint.size)
    fetch = _static_fetch(base)
    assert parse_checkpoint(verify_note(fetch("checkpoint").decode(), [host.vkey])) == checkpoint
    _same_as_json(host, TileReader(checkpoint.size, fetch), checkpoint, fetch)
    before = _files(root)
    assert not [name for name in before if ".tmp" in name]

    # More leaves, a new checkpoint: the second export writes only the new tiles, the checkpoint last.
    _import(host.server.engine, 200, "feb")
    grown = host.wait_for_checkpoint(checkpoint.size + 200)
    second = json.loads(_export(host, root).stdout)
    expected = list(new_tiles(checkpoint.size, grown.size))
    assert (second["previous_size"], second["size"]) == (checkpoint.size, grown.size)
    assert second["tiles"] + second["entry_bundles"] == len(expected)
    after = _files(root)
    rewritten = {name for name in before if after[name] != before[name]}
    assert rewritten == {"checkpoint"}, "tiles already exported are never written again"
    assert set(after) - set(before) == {tile_path(tile) for tile in expected}
    assert parse_checkpoint(verify_note(fetch("checkpoint").decode(), [host.vkey])) == grown
    _same_as_json(host, TileReader(grown.size, fetch), grown, fetch)
    # The partial tiles of the first export stay: a client holding that checkpoint still reads it.
    old_reader = TileReader(checkpoint.size, fetch)
    assert old_reader.root() == checkpoint.root
    assert old_reader.consistency_proof(300) == host.json_consistency(300, checkpoint.size)

    again = json.loads(_export(host, root).stdout)
    assert (again["tiles"], again["entry_bundles"], again["size"]) == (0, 0, grown.size)


def test_export_refuses_a_directory_of_another_log(host, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "checkpoint").write_text("other.test/log\n1\n" + "A" * 43 + "=\n\n— other.test/log AAAA\n")
    result = _export(host, other, check=False)
    assert result.returncode == 2 and "not a checkpoint signed by this log's key" in result.stderr
    assert not (other / "tile").exists()
    assert os.listdir(other) == ["checkpoint"]
