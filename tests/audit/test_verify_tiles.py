"""`revstream verify --tiles URL`: a statement checked against a log read from C2SP tlog-tiles
alone, served by a plain static file server (`python -m http.server`) over tiles exported
with the pure `build_tiles` / `tile_path`, as a CDN or a mirror would hold them.

The host is real and its log grew after the statement (a later close), and only the tiles
of the latest size are exported: the statement's checkpoint then calls for a partial tile
that is gone, which the verifier reads from the current one. The tiles give the same proofs
as the host's JSON endpoints; an entry changed in a bundle fails verification.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import revstream
from console.processes import make_witness, prepare_host, usage
from revstream.audit import TileClient, TransparencyClient
from revstream.store import log_entries, log_size
from revstream.transparency import (
    ENTRY_BUNDLE_LEVEL,
    TILE_WIDTH,
    Tile,
    MerkleTree,
    build_tiles,
    parse_checkpoint,
    parse_entry_bundle,
    entry_bundle,
    tile_path,
    tiles_for_size,
)

MODEL = "llama-t"


def _export(engine, directory: Path, checkpoint_note: str) -> int:
    """What `revstream log export-tiles DIR` does: every tile of the current size, the checkpoint."""
    size = parse_checkpoint(checkpoint_note[: checkpoint_note.rfind("\n\n") + 1]).size
    entries: list[bytes] = []
    while len(entries) < size:
        entries += log_entries(engine, len(entries), size)
    tree = MerkleTree()
    tree.extend(entries)
    for tile, data in build_tiles(size, tree.subtree_hash, entries):
        path = directory / tile_path(tile)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (directory / "checkpoint").write_text(checkpoint_note)
    return size


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiles")
    witness = make_witness(tmp, "witness.test/tiles")
    host = prepare_host(tmp / "host", "tiles.test/log", MODEL, "USD", input_price="0.30", output_price="0.90",
                        witnesses=(witness,), share_bps=1200, minimum="50.00")
    witness.follow((host.origin, host.vkey))
    witness.start()
    host.start()
    public = tmp / "public"
    public.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    static = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory",
                               str(public)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        host.import_usage(usage("mar", MODEL, "2026-03", 300, 20_000, 3_000))
        [march] = host.settle("2026-03")
        host.import_usage(usage("apr", MODEL, "2026-04", 7, 9_000, 1_000))  # the log grows past the statement
        [april] = host.settle("2026-04")
        host.wait_witnessed(april["log"]["size"])
        engine = host.engine()
        size = _export(engine, public, host.checkpoint())
        assert size == log_size(engine) == april["log"]["size"] > march["log"]["size"]
        engine.dispose()
        yield {"tmp": tmp, "host": host, "witness": witness, "public": public, "base": base, "march": march}
    finally:
        static.terminate()
        static.wait(10)
        host.stop()
        witness.stop()


def _verify(world, state: str, *source: str) -> tuple[int, dict]:
    host = world["host"]
    note = host.statement_note(world["march"]["statement"], world["tmp"] / f"{state}.note")
    result = revstream("verify", *source, "--vkey", host.vkey, "--statement", str(note), "--state",
                       str(world["tmp"] / state), "--witness", world["witness"].vkey, "--json",
                       home=world["tmp"] / "licensor", check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_a_statement_verifies_from_static_tiles_alone(world):
    march_size = world["march"]["log"]["size"]
    # Only the latest size's partial tiles exist: the statement's (size 301) is gone.
    assert not (world["public"] / tile_path(next(t for t in tiles_for_size(march_size) if t.is_partial))).exists()
    code, tiled = _verify(world, "tiles-state", "--tiles", world["base"])
    assert code == 0, tiled
    checks = {c["name"]: c["detail"] for c in tiled["checks"]}
    assert "read from tiles" in checks["log entries"] and "cosigned by 1 trusted witnesses" in checks["checkpoint witnesses"]
    code, direct = _verify(world, "json-state", "--host", world["host"].url, "--token", world["host"].token)
    assert code == 0, direct
    assert tiled["share_total_minor"] == direct["share_total_minor"] == world["march"]["share_total_minor"]
    assert tiled["entries_checked"] == direct["entries_checked"] == march_size - world["march"]["log"]["start"]


def test_tiles_give_the_proofs_the_json_endpoints_give(world):
    host, size = world["host"], world["march"]["log"]["size"]
    tiles, direct = TileClient(world["base"]), TransparencyClient(host.url, host.token)
    try:
        latest = parse_checkpoint(tiles.checkpoint().split("\n\n")[0] + "\n").size
        assert tiles.consistency(size, latest) == direct.consistency(size, latest)
        for index in (0, 255, 256, size - 1):
            assert tiles.inclusion(index, size) == direct.inclusion(index, size)
    finally:
        tiles.close()
        direct.close()


def test_an_entry_changed_in_a_bundle_fails_verification(world):
    bundle_path = world["public"] / tile_path(Tile(ENTRY_BUNDLE_LEVEL, 0, TILE_WIDTH))
    entries = list(parse_entry_bundle(bundle_path.read_bytes()))
    value = json.loads(entries[7])
    value["tokens_prompt"] -= 1000  # the host under-reports one request in what its mirror serves
    entries[7] = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    bundle_path.write_bytes(entry_bundle(entries))
    code, report = _verify(world, "tampered-state", "--tiles", world["base"])
    assert code == 1
    [failed] = [c for c in report["checks"] if not c["ok"]]
    assert failed["name"] == "log entries" and "read from the tiles are not the checkpoint's" in failed["detail"]
