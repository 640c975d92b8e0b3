"""load_config: defaults, a full TOML file, the environment override, and every error path.

The environment is always passed as a dict; os.environ is never read or changed here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from revstream.config import (
    EMBEDDED_MODEL_NAME,
    Config,
    ConfigError,
    LimitsConfig,
    ModelConfig,
    ServerConfig,
    StoreConfig,
    default_config,
    load_config,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def environ(home: Path) -> dict[str, str]:
    return {"REVSTREAM_HOME": str(home)}


@pytest.fixture
def write(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "revstream.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def load_text(write, environ: dict[str, str], text: str) -> Config:
    return load_config(write(text), environ)


def assert_config_error(write, environ: dict[str, str], text: str, *fragments: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_text(write, environ, text)
    for fragment in fragments:
        assert fragment in str(caught.value), f"{fragment!r} not in {str(caught.value)!r}"
    return caught.value


# Defaults -------------------------------------------------------------------------------


def test_defaults_are_the_embedded_model_and_sqlite_under_home(home, environ):
    config = load_config(None, environ)

    assert config.home == home.resolve()
    assert config.store == StoreConfig(database_url=f"sqlite:///{home.resolve() / 'revstream.db'}")
    assert config.server == ServerConfig()
    assert config.limits == LimitsConfig()
    assert config.source is None
    [model] = config.models
    assert model.name == EMBEDDED_MODEL_NAME
    assert model.backend == "llamacpp"
    assert model.path == Path("embedded")
    assert model.aliases == ("smollm2",)
    assert config.model_named("smollm2") is model
    assert config.model_named(EMBEDDED_MODEL_NAME) is model
    assert config.model_named("gpt-4") is None


def test_default_config_equals_load_config_without_a_file(environ):
    assert default_config(environ) == load_config(None, environ)


def test_default_values_are_documented_bounds():
    assert ServerConfig() == ServerConfig("127.0.0.1", 8000, 1, 2.0, 4 * 1024 * 1024)
    assert (StoreConfig("x").batch_records_max, StoreConfig("x").queue_records_max) == (512, 8192)
    assert LimitsConfig() == LimitsConfig(32768, 1024, 4)


def test_relative_home_is_resolved_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    assert load_config(None, {"REVSTREAM_HOME": "data"}).home == tmp_path.resolve() / "data"


def test_without_a_home_the_default_is_per_user_never_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    user = tmp_path / "user"

    home = load_config(None, {"HOME": str(user)}).home

    assert home == user.resolve() / ".local" / "share" / "revstream"
    assert tmp_path.resolve() / ".revstream" != home


def test_empty_file_gives_the_defaults_but_records_its_source(write, environ):
    path = write("")

    config = load_config(path, environ)

    assert config.models == load_config(None, environ).models
    assert config.source == path.resolve()


# A full file ----------------------------------------------------------------------------

FULL = """
[server]
host = "0.0.0.0"
port = 9000
workers = 4
auth_cache_ttl_s = 5
request_body_bytes_max = 1048576

[store]
database_url = "postgresql+psycopg://db.internal/revstream"
batch_records_max = 128
batch_delay_ms = 10
queue_records_max = 1024

[limits]
max_tokens_max = 4096
messages_max = 64
stop_sequences_max = 2

[[models]]
name = "local-llama"
backend = "llamacpp"
path = "/models/llama.gguf"
aliases = ["llama", "default"]
owned_by = "meta"
n_ctx = 4096
n_threads = 8
n_batch = 256

[[models]]
name = "partner-gpt"
backend = "openai"
base_url = "https://api.partner.example/v1"
api_key_env = "PARTNER_API_KEY"
upstream_model = "gpt-4o-mini"
context_window = 128000
timeout_connect_s = 2.5
timeout_read_s = 30
pool_connections_max = 16
tokenizer = "/models/tokenizer.gguf"
"""


def test_full_file(write, tmp_path):
    file_home = tmp_path / "file-home"
    path = write(FULL)

    config = load_config(path, {"REVSTREAM_HOME": str(file_home)})

    assert config.home == file_home.resolve()
    assert config.source == path.resolve()
    assert config.server == ServerConfig("0.0.0.0", 9000, 4, 5.0, 1048576)
    assert isinstance(config.server.auth_cache_ttl_s, float)
    assert config.store == StoreConfig("postgresql+psycopg://db.internal/revstream", 128, 10, 1024)
    assert config.limits == LimitsConfig(4096, 64, 2)
    local, partner = config.models
    assert local == ModelConfig(
        name="local-llama", backend="llamacpp", path=Path("/models/llama.gguf"), aliases=("llama", "default"),
        owned_by="meta", n_ctx=4096, n_threads=8, n_batch=256,
    )
    assert partner == ModelConfig(
        name="partner-gpt", backend="openai", base_url="https://api.partner.example/v1",
        api_key_env="PARTNER_API_KEY", upstream_model="gpt-4o-mini", context_window=128000,
        timeout_connect_s=2.5, timeout_read_s=30.0, pool_connections_max=16, tokenizer=Path("/models/tokenizer.gguf"),
    )
    assert isinstance(partner.timeout_read_s, float)
    assert config.model_named("default") is local
    assert config.model_named("partner-gpt") is partner


def test_models_replace_the_embedded_default(write, environ):
    config = load_text(write, environ, '[[models]]\nname = "p"\nbackend = "openai"\nbase_url = "http://x/v1"\n')

    assert [model.name for model in config.models] == ["p"]


def test_embedded_path_keyword_is_kept_for_the_backend(write, environ):
    config = load_text(write, environ, '[[models]]\nname = "m"\nbackend = "llamacpp"\npath = "embedded"\n')

    assert config.models[0].path == Path("embedded")


def test_the_home_gives_the_default_database_location(tmp_path):
    home = tmp_path / "h"

    config = load_config(None, {}, home=home)

    assert config.store.database_url == f"sqlite:///{home.resolve() / 'revstream.db'}"


def test_database_url_in_the_file_is_used(write, environ):
    config = load_text(write, environ, '[store]\ndatabase_url = "sqlite:////srv/usage.db"\n')

    assert config.store.database_url == "sqlite:////srv/usage.db"


# REVSTREAM_DATABASE_URL ----------------------------------------------------------------


def test_database_url_from_the_environment_overrides_the_default(environ):
    url = "postgresql+psycopg://127.0.0.1:5432/test"

    config = load_config(None, {**environ, "REVSTREAM_DATABASE_URL": url})

    assert config.store.database_url == url


def test_database_url_from_the_environment_overrides_the_file(write, environ):
    url = "postgresql+psycopg://127.0.0.1:5432/test"
    path = write('[store]\ndatabase_url = "sqlite:////srv/usage.db"\nbatch_records_max = 7\n')

    config = load_config(path, {**environ, "REVSTREAM_DATABASE_URL": url})

    assert config.store.database_url == url
    assert config.store.batch_records_max == 7


def test_empty_database_url_in_the_environment_is_ignored(home, environ):
    config = load_config(None, {**environ, "REVSTREAM_DATABASE_URL": ""})

    assert config.store.database_url == f"sqlite:///{home.resolve() / 'revstream.db'}"


# Errors ---------------------------------------------------------------------------------

OPENAI = '[[models]]\nname = "p"\nbackend = "openai"\nbase_url = "http://x/v1"\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nprot = 8000\n", "server.prot"),
        ("[store]\nbatch_size = 1\n", "store.batch_size"),
        ("[limits]\nmax_tokens = 1\n", "limits.max_tokens"),
        (OPENAI + "api_key = \"sk-oops\"\n", "models[0].api_key"),
    ],
)
def test_unknown_key_is_named(write, environ, text, key):
    error = assert_config_error(write, environ, text, key, "unknown key")
    assert "known:" in str(error)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[server]\nport = "8000"\n', "server.port"),
        ("[server]\nport = true\n", "server.port"),
        ("[server]\nport = 80.5\n", "server.port"),
        ("[server]\nhost = 127\n", "server.host"),
        ('[server]\nauth_cache_ttl_s = "2s"\n', "server.auth_cache_ttl_s"),
        ("[server]\nauth_cache_ttl_s = false\n", "server.auth_cache_ttl_s"),
        ("[store]\ndatabase_url = 5\n", "store.database_url"),
        ('[limits]\nmessages_max = "lots"\n', "limits.messages_max"),
        ('[[models]]\nname = 5\nbackend = "openai"\nbase_url = "http://x"\n', "models[0].name"),
        (OPENAI + 'aliases = "one"\n', "models[0].aliases"),
        (OPENAI + "aliases = [1, 2]\n", "models[0].aliases"),
        ('[[models]]\nname = "m"\nbackend = "llamacpp"\npath = 5\n', "models[0].path"),
        (OPENAI + "tokenizer = [\"a\"]\n", "models[0].tokenizer"),
        (OPENAI + 'n_threads = "4"\n', "models[0].n_threads"),
        (OPENAI + 'context_window = 1.5\n', "models[0].context_window"),
        ("server = 5\n", "server"),
        ("[[limits]]\nmessages_max = 1\n", "limits"),
        ("models = [1]\n", "models[0]"),
        ("[models]\nname = \"m\"\n", "models"),
    ],
)
def test_wrong_type_is_named(write, environ, text, key):
    assert_config_error(write, environ, text, key)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nport = -1\n", "server.port"),
        ("[server]\nauth_cache_ttl_s = -0.5\n", "server.auth_cache_ttl_s"),
        ("[server]\nauth_cache_ttl_s = -inf\n", "server.auth_cache_ttl_s"),
        ("[store]\nqueue_records_max = -8\n", "store.queue_records_max"),
        ("[limits]\nmax_tokens_max = -1\n", "limits.max_tokens_max"),
        (OPENAI + "timeout_read_s = -1\n", "models[0].timeout_read_s"),
        (OPENAI + "context_window = -100\n", "models[0].context_window"),
    ],
)
def test_negative_number_is_named(write, environ, text, key):
    assert_config_error(write, environ, text, key, "negative")


def test_zero_is_not_negative(write, environ):
    assert load_text(write, environ, "[store]\nbatch_delay_ms = 0\n").store.batch_delay_ms == 0


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[[models]]\nbackend = "openai"\nbase_url = "http://x"\n', "models[0].name"),
        ('[[models]]\nname = "m"\n', "models[0].backend"),
        (OPENAI + '[[models]]\nname = "second"\n', "models[1].backend"),
    ],
)
def test_missing_name_or_backend_is_named(write, environ, text, key):
    assert_config_error(write, environ, text, key, "required")


def test_unknown_backend_is_named(write, environ):
    assert_config_error(
        write, environ, '[[models]]\nname = "m"\nbackend = "vllm"\n', "models[0].backend", "'vllm'", "llamacpp", "openai"
    )


def test_llamacpp_without_path_is_named(write, environ):
    assert_config_error(write, environ, '[[models]]\nname = "m"\nbackend = "llamacpp"\n', "models[0].path")


@pytest.mark.parametrize("base_url", ["", None])
def test_openai_without_base_url_is_named(write, environ, base_url):
    line = f'base_url = "{base_url}"\n' if base_url is not None else ""
    assert_config_error(write, environ, f'[[models]]\nname = "p"\nbackend = "openai"\n{line}', "models[0].base_url")


@pytest.mark.parametrize(
    ("second", "clash"),
    [
        ('name = "p"', "'p'"),  # the same name twice
        ('name = "q"\naliases = ["p"]', "'p'"),  # an alias equal to another model's name
        ('name = "q"\naliases = ["shared"]', "'shared'"),  # an alias used by two models
    ],
)
def test_duplicate_model_name_or_alias_is_named(write, environ, second, clash):
    text = OPENAI + 'aliases = ["shared"]\n' + f'[[models]]\n{second}\nbackend = "openai"\nbase_url = "http://y/v1"\n'
    assert_config_error(write, environ, text, clash, "used twice")


def test_alias_equal_to_its_own_name_is_refused(write, environ):
    assert_config_error(write, environ, OPENAI + 'aliases = ["p"]\n', "'p'", "used twice")


def test_invalid_toml_names_the_file(write, environ):
    path = write("[server\nport = 1\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ)

    assert str(path) in str(caught.value)
    assert "invalid TOML" in str(caught.value)


def test_duplicate_toml_key_is_invalid_toml(write, environ):
    assert_config_error(write, environ, "[server]\nport = 1\nport = 2\n", "invalid TOML")


def test_missing_file_names_the_file(tmp_path, environ):
    path = tmp_path / "nowhere.toml"

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ)

    assert str(path) in str(caught.value)
    assert "not found" in str(caught.value)


def test_config_error_is_raised_before_anything_is_built(write, environ):
    # A valid [server] does not hide a bad model further down.
    assert_config_error(write, environ, "[server]\nport = 9000\n" + OPENAI + "n_ctx = -1\n", "models[0].n_ctx")


# Bugs: each of these escapes as a non-ConfigError exception (or passes silently). -------


@pytest.mark.parametrize("text", ["[limit]\nmax_tokens_max = 1\n", "[[model]]\nname = \"m\"\n", "workers = 4\n"])
def test_unknown_top_level_key_is_named(write, environ, text):
    key = text.strip("[").split("]")[0].split(" ")[0]
    assert_config_error(write, environ, text, key)


def test_store_that_is_not_a_table_is_named(write, environ):
    assert_config_error(write, environ, 'store = "sqlite:///x.db"\n', "store")


@pytest.mark.parametrize("value", ['"/var/lib/revstream"', "5"])
def test_a_file_cannot_choose_the_home_it_is_found_in(write, environ, value):
    assert_config_error(write, environ, f"home = {value}\n", "home", "--home", "REVSTREAM_HOME")


def test_unreadable_path_is_a_config_error(tmp_path, environ):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ)  # a directory

    assert str(tmp_path) in str(caught.value)


def test_non_utf8_file_is_a_config_error(tmp_path, environ):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[server]\nhost = "caf\u00e9"\n'.encode("latin-1"))

    with pytest.raises(ConfigError):
        load_config(path, environ)


def test_nan_is_refused(write, environ):
    assert_config_error(write, environ, "[server]\nauth_cache_ttl_s = nan\n", "server.auth_cache_ttl_s")
