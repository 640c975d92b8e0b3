"""Affiliates grouped: an install's month exported as a file and merged into the install that
reports for the group, on SQLite and PostgreSQL and through the CLI; users common to both count
once (same key), importing twice changes nothing, a closed month refuses, a doctored file is
refused before anything is written."""

from __future__ import annotations

import base64
import json
import random
import shutil
from datetime import date

import pytest

from revstream.cli import main
from revstream.licence import MauCounter, SketchError, export_document, mau_key_id, read_export
from revstream.periods import parse_time_us
from revstream.settlement import draft_agreement
from revstream.store import (
    MonthClosed,
    add_agreement,
    add_licensor,
    import_affiliate_month,
    licence_secret,
    licence_status,
    make_engine,
    mau_month_state,
    merge_mau,
    set_model_licensor,
    settle,
    upgrade,
)

NOW = parse_time_us("2026-11-20T00:00:00Z")
KEY = "0123456789abcdef"


def hashes(count: int, seed: int) -> list[int]:
    generator = random.Random(seed)
    return [generator.getrandbits(64) for _ in range(count)]


def counter_of(month: str, values, bound: int = 1000) -> MauCounter:
    counter = MauCounter(month, bound)
    for value in values:
        counter.add(value)
    return counter


def exported(month: str, values, bound: int = 1000, affiliate: str = "acme-eu") -> bytes:
    return json.dumps(export_document(affiliate, KEY, counter_of(month, values, bound))).encode()


@pytest.fixture
def engine(migrated_engine):
    return migrated_engine


def test_an_export_reads_back_to_the_same_state_exact_and_sketch():
    for bound in (1000, 10):
        counter = counter_of("2026-11", hashes(50, 1), bound)
        back = read_export(json.dumps(export_document("acme-eu", KEY, counter)).encode(), bound)
        assert (back.affiliate, back.key_id, back.month) == ("acme-eu", KEY, "2026-11")
        assert back.counter.serialize() == counter.serialize() and back.counter.method == counter.method


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other/1"), "format"),
    (lambda d: d.update(state=base64.b64encode(base64.b64decode(d["state"])[:-8]).decode()), "altered or cut"),
    (lambda d: d.update(month="2026-10"), "its state is of 2026-11"),
    (lambda d: d.update(affiliate=""), "printable"),
    (lambda d: d.update(key_id="x"), "key_id"),
    (lambda d: d.update(state="%%%"), "base64"),
])
def test_a_doctored_export_is_refused(change, message):
    document = export_document("acme-eu", KEY, counter_of("2026-11", hashes(5, 2)))
    change(document)
    with pytest.raises(SketchError, match=message):
        read_export(json.dumps(document).encode(), 1000)
    with pytest.raises(SketchError, match="not JSON"):
        read_export(b"\xff", 1000)


def test_the_key_id_names_the_key_without_revealing_it():
    assert mau_key_id(b"a" * 32) == mau_key_id(b"a" * 32) != mau_key_id(b"b" * 32)
    assert len(mau_key_id(b"a" * 32)) == 16


def test_an_affiliate_month_joins_the_group_once_whatever_the_repeats(engine):
    own, theirs = hashes(300, 3), hashes(200, 4)
    shared_users = own[:50]  # seen by both installs
    merge_mau(engine, "2026-11", own, None, 1000, None, NOW)
    imported = read_export(exported("2026-11", theirs + shared_users), 1000)
    own_key = mau_key_id(licence_secret(engine))
    merged, record = import_affiliate_month(engine, imported, own_key, 1000, NOW)
    assert (merged.users, record.users, record.same_key) == (500, 250, False)
    again, _ = import_affiliate_month(engine, imported, own_key, 1000, NOW + 1)
    assert again.users == 500
    state = mau_month_state(engine, "2026-11")
    assert state.serialize() == counter_of("2026-11", own + theirs).serialize()
    [november] = licence_status(engine)
    assert november.users == 500 and [(a.affiliate, a.users) for a in november.affiliates] == [("acme-eu", 250)]


def test_a_sketch_from_an_affiliate_turns_the_month_into_the_union_sketch(engine):
    own, theirs = hashes(40, 5), hashes(60, 6)
    merge_mau(engine, "2026-11", own, None, 50, None, NOW)
    merged, _ = import_affiliate_month(engine, read_export(exported("2026-11", theirs, 50), 50), KEY, 50, NOW)
    assert merged.method == "hll"
    assert mau_month_state(engine, "2026-11").serialize() == counter_of("2026-11", own + theirs, 50).serialize()


def test_a_closed_month_refuses_an_import_and_writes_nothing(engine):
    add_licensor(engine, "Llama Labs", NOW)
    set_model_licensor(engine, "llama-3.1-8b", "Llama Labs", NOW)
    add_agreement(engine, draft_agreement(licensor="Llama Labs", models=("llama-3.1-8b",), currency="USD",
                                          effective_from=date(2026, 1, 1), share_bps=1500), NOW)
    merge_mau(engine, "2026-10", hashes(12, 7), None, 1000, None, NOW)
    settle(engine, "2026-10", NOW)
    before = mau_month_state(engine, "2026-10").serialize()
    with pytest.raises(MonthClosed, match="2026-10 is closed"):
        import_affiliate_month(engine, read_export(exported("2026-10", hashes(9, 8)), 1000), KEY, 1000, NOW)
    assert mau_month_state(engine, "2026-10").serialize() == before
    assert licence_status(engine)[0].affiliates == ()


def _home(tmp_path, name: str, affiliates: tuple[str, ...] = ()):
    home = tmp_path / name
    home.mkdir()
    config = home / "revstream.toml"
    config.write_text("[licence]\naffiliates = [" + ", ".join(f'"{a}"' for a in affiliates) + "]\n")
    return home, config


def _cli(capsys, home, config, *argv):
    code = main(["--home", str(home), "--config", str(config), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_cli_carries_a_month_from_an_affiliate_to_the_group(tmp_path, capsys):
    group_home, group_config = _home(tmp_path, "group", ("acme-eu",))
    eu_home, eu_config = _home(tmp_path, "eu")
    # The first export makes the store and the key of end users' hashes.
    assert _cli(capsys, group_home, group_config, "licence", "export-mau", "--month", "2026-11", "--as", "g")[0] == 0
    shutil.copytree(group_home / "keys", eu_home / "keys")  # one key for the group: common users count once
    group_users, eu_users = hashes(30, 9), hashes(20, 10) + hashes(30, 9)[:5]
    for home, users in ((group_home, group_users), (eu_home, eu_users)):
        engine = make_engine(f"sqlite:///{home / 'revstream.db'}")
        upgrade(engine)
        merge_mau(engine, "2026-11", users, None, 1000, None, NOW)
        engine.dispose()
    export = tmp_path / "eu-2026-11.json"
    code, _, err = _cli(capsys, eu_home, eu_config, "licence", "export-mau", "--month", "2026-11", "--as", "acme-eu",
                        "-o", str(export))
    assert code == 0 and "25 users" in err and export.stat().st_mode & 0o077 == 0
    code, out, err = _cli(capsys, group_home, group_config, "licence", "import-mau", str(export), "--json")
    assert code == 0, err
    assert json.loads(out) == {"month": "2026-11", "affiliate": "acme-eu", "affiliate_users": 25, "same_key": True,
                               "group_users": 50, "group_method": "exact"}
    code, out, _ = _cli(capsys, group_home, group_config, "licence", "status", "--json")
    [november] = json.loads(out)["months"]
    assert november["users"] == 50 and november["affiliates"][0]["affiliate"] == "acme-eu"
    # Not an affiliate of this install: refused, nothing counted.
    code, _, err = _cli(capsys, eu_home, eu_config, "licence", "import-mau", str(export))
    assert code == 1 and "not an affiliate" in err
    export.write_text(export.read_text().replace('"users": 25', '"users": 26').replace('"month"', '"m"'))
    code, _, err = _cli(capsys, group_home, group_config, "licence", "import-mau", str(export))
    assert code == 2 and "month" in err
