"""revstream.backends' public face is a short, pinned list; the model options it reads load from TOML."""

from __future__ import annotations

import pytest

import revstream.backends
from revstream.config import ConfigError, load_config

PUBLIC = {
    "BACKEND_CLASSES", "Backend", "BackendBusy", "BackendError", "BackendTimeout", "BackendUnavailable",
    "ChatMessage", "ContextLengthExceeded", "Event", "Finish", "GenerationRequest", "LlamaCppBackend",
    "OpenAIBackend", "PreparedRequest", "PromptRejected", "StopScanner", "TextDelta", "UpstreamRejected",
    "UsageMeter", "embedded_gguf_path", "make_backend",
}


def test_public_names_are_pinned():
    assert set(revstream.backends.__all__) == PUBLIC
    assert all(hasattr(revstream.backends, name) for name in PUBLIC)


def load(tmp_path, text: str):
    path = tmp_path / "revstream.toml"
    path.write_text(text)
    return load_config(path, {"REVSTREAM_HOME": str(tmp_path / "home")})


UPSTREAM = '[[models]]\nname = "m"\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'


def test_chat_template_loads_inline_or_as_a_path(tmp_path):
    inline = "{% for message in messages %}{{ message['content'] }}{% endfor %}"
    config = load(tmp_path, UPSTREAM + f'chat_template = "{inline}"\n')
    assert config.models[0].chat_template == inline
    config = load(tmp_path, UPSTREAM + 'chat_template = "/etc/revstream/chat.jinja"\n')
    assert config.models[0].chat_template == "/etc/revstream/chat.jinja"
    assert load(tmp_path, UPSTREAM).models[0].chat_template is None


@pytest.mark.parametrize("value", ['""', '"  "', "3"])
def test_a_blank_or_mistyped_chat_template_is_a_config_error(tmp_path, value):
    with pytest.raises(ConfigError, match="chat_template"):
        load(tmp_path, UPSTREAM + f"chat_template = {value}\n")
