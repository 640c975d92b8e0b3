"""A log exported as C2SP tiles to a directory, served by a plain static file server, and read
back by a verifier that has nothing else: the cosigned checkpoint, the tiles, the entries."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from revstream.transparency import (
    TILE_WIDTH,
    MerkleTree,
    TileReader,
    append_signatures,
    cosign_checkpoint,
    entry_bundle,
    format_checkpoint,
    generate_cosigner_key,
    generate_key,
    leaf_hash,
    new_tiles,
    sign_note,
    tile_data,
    tile_path,
    verify_checkpoint_consistency,
    verify_cosigned_checkpoint,
    verify_inclusion,
    verify_tiled_entries,
)

ORIGIN = "host.test/revstream"
LOG_SKEY, LOG_VKEY = generate_key(ORIGIN, seed=b"H" * 32)
WITNESS_SKEY, WITNESS_VKEY = generate_cosigner_key("witness.test/w1", seed=b"W" * 32)


def _entry(index: int) -> bytes:
    return b'{"kind":"usage","version":1,"n":%d}' % index


def _publish(directory: Path, tree: MerkleTree, entries: list[bytes], old_size: int) -> None:
    """What `revstream log export-tiles DIR` would do: new tiles, then the cosigned checkpoint."""
    size = tree.size
    for tile in new_tiles(old_size, size):
        path = directory / tile_path(tile)
        path.parent.mkdir(parents=True, exist_ok=True)
        if tile.is_entry_bundle:
            start = tile.index * TILE_WIDTH
            path.write_bytes(entry_bundle(entries[start : start + tile.width]))
        else:
            path.write_bytes(tile_data(tile, tree.subtree_hash))
    text = format_checkpoint(ORIGIN, size, tree.root())
    note = append_signatures(sign_note(text, LOG_SKEY), cosign_checkpoint(text, WITNESS_SKEY, 1_750_000_000 + size))
    (directory / "checkpoint").write_text(note, encoding="utf-8")


@pytest.fixture
def static_server(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = tmp_path / "public"
    root.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield root, base
    finally:
        process.terminate()
        process.wait(10)


def _fetcher(base: str, fetched: list[str]):
    def fetch(path: str) -> bytes | None:
        fetched.append(path)
        try:
            with urllib.request.urlopen(f"{base}/{path}", timeout=10) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
    return fetch


def test_a_verifier_reads_the_log_from_static_tiles_alone(static_server) -> None:
    root, base = static_server
    entries, tree = [_entry(index) for index in range(1000)], MerkleTree()
    tree.extend(entries)
    _publish(root, tree, entries, 0)

    note = urllib.request.urlopen(f"{base}/checkpoint").read().decode()
    first = verify_cosigned_checkpoint(note, LOG_VKEY, [WITNESS_VKEY], 1)
    fetched: list[str] = []
    assert verify_tiled_entries(first, 0, first.size, _fetcher(base, fetched)) == tuple(entries)
    reader = TileReader(first.size, _fetcher(base, fetched))
    verify_inclusion(leaf_hash(entries[777]), 777, first.size, reader.inclusion_proof(777), first.root)

    entries += [_entry(index) for index in range(1000, 1300)]  # the log grows; only new tiles are written
    tree.extend(entries[1000:])
    _publish(root, tree, entries, 1000)
    second = verify_cosigned_checkpoint(urllib.request.urlopen(f"{base}/checkpoint").read().decode(),
                                        LOG_VKEY, [WITNESS_VKEY], 1)
    proof = TileReader(second.size, _fetcher(base, fetched)).consistency_proof(first.size)
    verify_checkpoint_consistency(first, second, proof)
    assert verify_tiled_entries(second, 990, 1300, _fetcher(base, fetched)) == tuple(entries[990:1300])
    assert all(path.startswith("tile/") for path in fetched)
