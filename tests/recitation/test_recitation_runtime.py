"""A worker's catalog: the host's `[recitation] limit_words` for works registered without their
own, a work's own limit otherwise, and a registration or removal picked up by the next reload."""

from __future__ import annotations

import recitation_fixtures as fixtures
from revstream.config._recitation import RecitationSettings
from revstream.gateway._recitation import RecitationRuntime
from revstream.recitation import Guard, fingerprint_text, words
from revstream.store import (
    add_holder,
    fingerprint_key,
    index_directory,
    make_engine,
    register_work,
    remove_work,
    upgrade,
)

WORKS = [w for w in fixtures.read_works() if w["mode"] == "block"][:2]


def words_let_through(runtime: RecitationRuntime, text: str) -> int:
    """Normalized words of `text` the guard releases before it stops (fed a word at a time)."""
    guard = Guard(runtime.catalog)
    released = []
    for piece in text.split(" "):
        emit = guard.feed(piece + " ")
        released.append(emit.text)
        if emit.stop is not None:
            break
    return len(words("".join(released)))


def test_the_hosts_limit_and_a_works_own(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "keys")
    upgrade(engine)
    settings = RecitationSettings(tmp_path / "index", limit_words=60)
    directory = index_directory(engine, settings.index_dir)
    key = fingerprint_key(engine)
    add_holder(engine, "Press", 1)
    runtime = RecitationRuntime(settings, engine, directory)
    assert runtime.reload() and runtime.catalog is None  # nothing registered: no guard at all
    host_limit = register_work(engine, directory, "Press", "A", fingerprint_text(WORKS[0]["text"], key), 1)
    own_limit = register_work(engine, directory, "Press", "B", fingerprint_text(WORKS[1]["text"], key), 1, limit_words=30)
    assert runtime.reload() and not runtime.reload()  # reloaded once per change of the index
    limits = {work.work_id: work.limit_words for work in runtime.catalog.works}
    assert limits == {host_limit.work_id: 60, own_limit.work_id: 30}
    assert 30 < words_let_through(runtime, WORKS[0]["text"]) <= 60
    assert 0 < words_let_through(runtime, WORKS[1]["text"]) <= 30
    remove_work(engine, directory, own_limit.work_id, 2)
    assert runtime.reload() and [w.work_id for w in runtime.catalog.works] == [host_limit.work_id]
    assert words_let_through(runtime, WORKS[1]["text"]) == len(words(WORKS[1]["text"]))
    engine.dispose()
