"""Window hashes, fingerprint files, index files and the index directory."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from revstream.recitation import (
    FingerprintError,
    FingerprintKey,
    IndexDirectory,
    IndexFormatError,
    KeyFormatError,
    SEGMENTS_MAX,
    WindowHasher,
    WindowIndex,
    WorkError,
    fingerprint_submission,
    fingerprint_text,
    format_fingerprint,
    new_fingerprint_key,
    parse_fingerprint,
    parse_fingerprint_key,
    words,
)

KEY = FingerprintKey(bytes(range(32)), 16)
TEXT = ("It was a bright cold day in the archive, and the clocks were striking thirteen as the "
        "cartographer unrolled the weathered map across the long oak table. ") * 3 + "The end of the story."


def test_window_hash_is_keyed_blake2b_of_the_words_joined_by_spaces() -> None:
    window = [f"w{i}" for i in range(16)]
    expected = hashlib.blake2b(" ".join(window).encode(), digest_size=8, key=bytes(range(32)),
                               person=b"rs-recitation-1").hexdigest()
    assert f"{WindowHasher(KEY).hash_words(window):016x}" == expected
    other = WindowHasher(FingerprintKey(bytes(32), 16)).hash_words(window)
    assert other != int(expected, 16)  # another host's key gives other hashes


def test_fingerprint_keys_round_trip_and_bad_ones_are_refused() -> None:
    key = new_fingerprint_key()
    assert parse_fingerprint_key(key.text()) == key
    assert re.fullmatch(r"rfk1:16:[A-Za-z0-9_-]{43}", key.text())
    assert key.key_id not in repr(key.text()) and key.text() not in repr(key)
    for bad in ("", "rfk2:16:" + key.text()[8:], "rfk1:x:" + key.text()[8:], "rfk1:16:abc", "rfk1:2:" + key.text()[8:],
                key.text() + "=", key.text()[:-1] + "!", "rfk1:016:" + key.text()[8:]):
        with pytest.raises(KeyFormatError):
            parse_fingerprint_key(bad)


def test_aligned_windows_do_not_overlap() -> None:
    normalized = words(TEXT)
    hasher = WindowHasher(KEY)
    aligned = hasher.aligned_hashes(normalized)
    assert len(aligned) == len(normalized) // 16
    assert aligned == hasher.sliding_hashes(normalized)[::16][:len(aligned)]


def test_fingerprint_file_round_trips_and_holds_no_text() -> None:
    fingerprint = fingerprint_text(TEXT, KEY)
    body = format_fingerprint(fingerprint)
    assert parse_fingerprint(body) == fingerprint
    assert body.startswith(f"revstream-fingerprint 1\nkey-id {KEY.key_id}\nwindow-words 16\n")
    for word in set(words(TEXT)):
        if len(word) >= 4:
            assert word not in body.lower(), word
    assert list(fingerprint.hashes) == sorted(set(fingerprint.hashes))
    assert fingerprint.words == len(words(TEXT))


@pytest.mark.parametrize("mangle, message", [
    (lambda b: b[:-1], "newline"),
    (lambda b: b.replace("revstream-fingerprint 1", "revstream-fingerprint 2"), "unknown fingerprint version"),
    (lambda b: b.replace("revstream-fingerprint 1", "hello"), "not a fingerprint"),
    (lambda b: b.replace("window-words 16", "window-words 016"), "number"),
    (lambda b: b.replace("\n\n", "\n"), "empty line"),
    (lambda b: b.rsplit("\n", 2)[0] + "\n", "declares"),
    (lambda b: b[:b.rindex("\n", 0, -1) + 1] + b[b.rindex("\n", 0, -1) + 1:].upper(), "lowercase hex"),
    (lambda b: b.replace("key-id ", "key_id "), "key-id"),
])
def test_malformed_fingerprints_are_refused(mangle, message) -> None:
    with pytest.raises(FingerprintError, match=message):
        parse_fingerprint(mangle(format_fingerprint(fingerprint_text(TEXT, KEY))))


def test_unsorted_fingerprints_and_other_keys_are_refused() -> None:
    body = format_fingerprint(fingerprint_text(TEXT, KEY))
    head, _, hashes = body.partition("\n\n")
    lines = hashes.splitlines()
    with pytest.raises(FingerprintError, match="ascending"):
        parse_fingerprint(head + "\n\n" + "\n".join(reversed(lines)) + "\n")
    with pytest.raises(FingerprintError, match="another host|not this host"):
        fingerprint_submission(body, FingerprintKey(bytes(32), 16))
    assert fingerprint_submission(body, KEY) == fingerprint_submission(TEXT, KEY)
    with pytest.raises(WorkError, match="at least 16 words"):
        fingerprint_text("too short to be a work", KEY)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 5)), max_size=200),
       st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_index_lookups_agree_with_a_dict(entries, probes) -> None:
    # Few distinct hashes sometimes, so that ties across works occur.
    entries = [(h % 7 if i % 3 == 0 else h, n) for i, (h, n) in enumerate(entries)]
    index = WindowIndex.build([h for h, _ in entries], [n for _, n in entries], 16, KEY.key_id)
    expected: dict[int, set[int]] = {}
    for h, n in entries:
        expected.setdefault(h, set()).add(n)
    assert len(index) == sum(len(v) for v in expected.values())
    for h in [h for h, _ in entries] + probes:
        assert index.lookup(h) == tuple(sorted(expected.get(h, ())))
    index.check_sorted()
    queries = np.array([h for h, _ in entries] + probes, dtype=np.uint64)
    assert index.contains_many(queries).tolist() == [int(q) in expected for q in queries]
    halves = [WindowIndex.build([h for h, _ in part], [n for _, n in part], 16, KEY.key_id)
              for part in (entries[::2], entries[1::2]) if part]
    if halves:
        assert WindowIndex.merge(halves).to_bytes() == index.to_bytes()
    assert 3 not in index.without([3]).work_numbers()


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 5000])
def test_bucket_tables_at_every_size(count) -> None:
    rng = np.random.default_rng(count)
    hashes = rng.integers(0, 2**64, size=count, dtype=np.uint64)
    index = WindowIndex.build(hashes, np.ones(count, dtype=np.int64), 16, KEY.key_id)
    index.check_sorted()
    assert index.bucket_bits == min(20, (count // 16).bit_length())
    assert all(index.lookup(int(h)) == (1,) for h in hashes)
    assert index.lookup(0) == () and index.lookup(2**64 - 1) == ()
    assert WindowIndex.build([0, 2**64 - 1], [1, 2], 16, KEY.key_id).lookup(2**64 - 1) == (2,)


def test_index_files_round_trip_memory_mapped(tmp_path) -> None:
    index = WindowIndex.for_work(9, fingerprint_text(TEXT, KEY).hashes, 16, KEY.key_id)
    path = tmp_path / "seg-1.rwi"
    index.write(path)
    opened = WindowIndex.open(path)
    assert opened.to_bytes() == index.to_bytes() == path.read_bytes()
    assert path.stat().st_size == 64 + 8 * (2 ** index.bucket_bits + 1) + 12 * len(index)
    opened.check_sorted()
    for h in index.hashes.tolist():
        assert opened.lookup(h) == (9,)
    assert opened.lookup(12345) == ()


@pytest.mark.parametrize("mangle, message", [
    (lambda b: b"XXXXXXXX" + b[8:], "not a recitation index"),
    (lambda b: b[:8] + b"\x02" + b[9:], "version"),
    (lambda b: b[:-4], "size"),
    (lambda b: b[:40], "short"),
    (lambda b: b[:56] + b"\x15" + b[57:], "bucket table"),
    (lambda b: b[:64] + b"\x01" + b[65:], "cover"),
])
def test_damaged_index_files_are_refused(tmp_path, mangle, message) -> None:
    path = tmp_path / "seg-1.rwi"
    path.write_bytes(mangle(WindowIndex.for_work(1, [5, 6, 7], 16, KEY.key_id).to_bytes()))
    with pytest.raises(IndexFormatError, match=message):
        WindowIndex.open(path)


def test_the_index_from_a_fingerprint_equals_the_index_from_the_text(tmp_path) -> None:
    from_text = IndexDirectory.create(tmp_path / "host-a", KEY)
    from_text.add_work(1, fingerprint_submission(TEXT, KEY))
    holder_file = format_fingerprint(fingerprint_text(TEXT, KEY))  # on the holder's machine
    from_file = IndexDirectory.create(tmp_path / "host-b", KEY)
    from_file.add_work(1, fingerprint_submission(holder_file, KEY))
    (a,), (b,) = from_text.load(), from_file.load()
    assert a.to_bytes() == b.to_bytes()
    for path in from_text.files():  # the host's files hold hashes and numbers, no sentence
        content = path.read_bytes().lower()
        assert not any(word.encode() in content for word in words(TEXT) if len(word) >= 4), path


def test_directory_adds_removes_and_compacts(tmp_path) -> None:
    directory = IndexDirectory.create(tmp_path / "index", KEY)
    texts = {n: " ".join(f"work{n}word{i}" for i in range(64)) for n in range(1, SEGMENTS_MAX + 3)}
    for number, text in texts.items():
        directory.add_work(number, fingerprint_text(text, KEY))
    manifest = directory.manifest()
    assert manifest.work_numbers() == frozenset(texts)
    assert len(manifest.segments) <= SEGMENTS_MAX
    with pytest.raises(WorkError, match="already"):
        directory.add_work(3, fingerprint_text(texts[3], KEY))
    hashes_of_3 = fingerprint_text(texts[3], KEY).hashes
    assert directory.remove_work(3) and not directory.remove_work(3)
    indexes = directory.load()
    assert all(index.lookup(h) == () for index in indexes for h in hashes_of_3)
    assert sum(len(i) for i in indexes) == 4 * (len(texts) - 1)
    for path in directory.files():  # removed from the disk, not only hidden
        data = path.read_bytes()
        assert not any(h.to_bytes(8, "little") in data for h in hashes_of_3)
    directory.compact()
    assert len(directory.manifest().segments) == 1
    assert sorted(p.name for p in (tmp_path / "index").glob("seg-*")) == [directory.manifest().segments[0].file]
    with pytest.raises(IndexFormatError, match="not for key"):
        IndexDirectory.create(tmp_path / "index", FingerprintKey(bytes(32), 16))
    with pytest.raises(FingerprintError):
        directory.add_work(99, fingerprint_text(texts[1], FingerprintKey(bytes(32), 16)))
