"""The witness configuration file and the state file: parsing, round trips, refusals."""

from __future__ import annotations

import base64
import os

import pytest

from revstream.transparency import EMPTY_ROOT, cosign_checkpoint, format_checkpoint, generate_cosigner_key, generate_key
from revstream.witness import (
    ConfigError,
    LogState,
    StateDirectory,
    StateError,
    WitnessState,
    init_witness_key,
    parse_witness_config,
    state_from_json,
    state_to_json,
)

LOG_SKEY, LOG_VKEY = generate_key("host.test/log", seed=b"L" * 32)
_, OTHER_VKEY = generate_key("other.test/log", seed=b"O" * 32)


def test_a_config_lists_logs_by_origin() -> None:
    config = parse_witness_config(f'''
[[log]]
origin = "host.test/log"
vkeys = ["{LOG_VKEY}"]

[[log]]
origin = "other.test/log"
vkeys = ["{OTHER_VKEY}", "{LOG_VKEY}"]
''')
    assert set(config.logs) == {"host.test/log", "other.test/log"}
    assert config.logs["other.test/log"].vkeys == (OTHER_VKEY, LOG_VKEY)
    assert parse_witness_config("").logs == {}
    with pytest.raises(TypeError):
        config.logs["x"] = None  # read-only


@pytest.mark.parametrize("text", [
    "not toml [", "[server]\nport = 1\n", "log = 3\n", '[[log]]\norigin = "a"\n',
    f'[[log]]\norigin = "a"\nvkeys = ["{LOG_VKEY}"]\nextra = 1\n',
    '[[log]]\norigin = "a"\nvkeys = ["not a key"]\n', '[[log]]\norigin = "a"\nvkeys = []\n',
    f'[[log]]\norigin = ""\nvkeys = ["{LOG_VKEY}"]\n', f'[[log]]\norigin = "a"\nvkeys = "{LOG_VKEY}"\n',
    f'[[log]]\norigin = "a"\nvkeys = ["{LOG_VKEY}"]\n[[log]]\norigin = "a"\nvkeys = ["{LOG_VKEY}"]\n',
    f'[[log]]\norigin = "a\\u0001"\nvkeys = ["{LOG_VKEY}"]\n',
])
def test_bad_configs_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_witness_config(text)


def _log_state(size: int, root: bytes) -> LogState:
    text = format_checkpoint("host.test/log", size, root)
    skey, _ = generate_cosigner_key("witness.test/w1", seed=b"W" * 32)
    return LogState(size=size, root=root, checkpoint=text + "\n" + cosign_checkpoint(text, skey, 5))


def test_state_json_round_trips_and_checks_itself() -> None:
    state = WitnessState().with_log("host.test/log", _log_state(3, bytes(range(32))))
    data = state_to_json(state)
    assert state_from_json(data) == state
    assert state_from_json(state_to_json(WitnessState())) == WitnessState()
    root = base64.b64encode(bytes(range(32))).decode()
    for bad in (b"[]", b"{", data.replace(b'"version": 1', b'"version": 2'),
                data.replace(b'"size": 3', b'"size": 4'), data.replace(root.encode(), base64.b64encode(bytes(32)), 1),
                data.replace(b'"format": "revstream-witness-state"', b'"format": "x"')):
        with pytest.raises(StateError):
            state_from_json(bad)
    empty_but_wrong = WitnessState().with_log("host.test/log", _log_state(0, bytes(32)))
    with pytest.raises(StateError, match="empty root"):
        state_from_json(state_to_json(empty_but_wrong))
    assert state_from_json(state_to_json(WitnessState().with_log("host.test/log", _log_state(0, EMPTY_ROOT))))


def test_the_state_directory_keeps_key_and_state(tmp_path) -> None:
    directory = tmp_path / "witness"
    vkey = init_witness_key(directory, "witness.test/w1", seed=b"W" * 32)
    assert vkey == generate_cosigner_key("witness.test/w1", seed=b"W" * 32)[1]
    assert oct((directory / "witness.key").stat().st_mode & 0o777) == "0o600"
    assert (directory / "witness.vkey").read_text() == vkey + "\n"
    with pytest.raises(StateError, match="keeps its key"):
        init_witness_key(directory, "witness.test/w1")
    state = WitnessState().with_log("host.test/log", _log_state(3, bytes(range(32))))
    with StateDirectory(directory) as opened:
        assert opened.read_key()[1] == vkey
        assert opened.load() == WitnessState()
        opened.save(state)
        with pytest.raises(StateError, match="another witness"):
            StateDirectory(directory).open()
    assert [name for name in os.listdir(directory) if name.endswith(".tmp")] == []
    with StateDirectory(directory) as reopened:
        assert reopened.load() == state
    with pytest.raises(StateError, match="not open"):
        StateDirectory(directory).save(state)
    with pytest.raises(StateError, match="witness init"):
        StateDirectory(tmp_path / "nothing").read_key()
    with pytest.raises(StateError):
        init_witness_key(tmp_path / "bad", "a name with spaces")
