"""revstream in front of a real `llama_cpp.server` (llama-cpp-python's OpenAI-compatible
server, which reports no usage in streams) serving the embedded GGUF.

The gateway runs in this process on a real port with a throwaway SQLite store; the
upstream runs in a subprocess with one thread. Each test sends a couple of short
requests with the official `openai` client and reads the usage records back from the
store.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn

from revstream.backends import embedded_gguf_path
from revstream.config import Config, ModelConfig, ServerConfig, StoreConfig
from revstream.gateway import create_app
from revstream.store import create_key, list_usage, make_engine, upgrade

from conftest import free_port

pytestmark = pytest.mark.model

START_S_MAX = 120.0
HELLO = [{"role": "user", "content": "Say hi"}]


def wait_until(predicate, what: str, process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + START_S_MAX
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}:\n{log.read_text() if log else ''}")
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not start within {START_S_MAX}s")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """`python -m llama_cpp.server` on the embedded GGUF, one thread, on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-cpp-server") / "server.log"
    args = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf_path()), "--host", "127.0.0.1",
        "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "2048",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(base_url + "/v1/models", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, "llama_cpp.server", process, log)
        yield base_url + "/v1"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def template_file(tmp_path_factory) -> Path:
    """The GGUF's own chat template, as a host would save it to configure `chat_template`."""
    from llama_cpp import Llama

    vocab = Llama(model_path=str(embedded_gguf_path()), vocab_only=True, verbose=False)
    path = tmp_path_factory.mktemp("template") / "smollm2.jinja"
    path.write_text(vocab.metadata["tokenizer.chat_template"])
    return path


class Gateway:
    def __init__(self, home: Path, models: tuple[ModelConfig, ...]) -> None:
        database_url = f"sqlite:///{home / 'store.db'}"
        self.engine = make_engine(database_url)
        upgrade(self.engine)
        config = Config(home=home, server=ServerConfig(auth_cache_ttl_s=0), store=StoreConfig(database_url=database_url),
                        models=models)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(config), port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Gateway":
        self.thread.start()
        wait_until(lambda: self.server.started, "the gateway")
        key = create_key(self.engine, "acme", time.time_ns() // 1000)[0]
        self.client = openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key=key, max_retries=0, timeout=120)
        return self

    def __exit__(self, *exc_info) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(30)
        self.engine.dispose()

    def record(self, request_id: str):
        deadline = time.monotonic() + 20
        while True:
            matches = [r for r in list_usage(self.engine) if r.request_id == request_id]
            if (matches and matches[0].status != "pending") or time.monotonic() > deadline:
                assert len(matches) == 1, f"expected one usage record for {request_id}, found {len(matches)}"
                return matches[0]
            time.sleep(0.05)


@pytest.fixture(scope="module")
def gateway(upstream, template_file, tmp_path_factory):
    models = (
        # the upstream counted with the GGUF's vocabulary and template, locally
        ModelConfig(name="upstream-gguf", backend="openai", base_url=upstream, tokenizer=embedded_gguf_path()),
        # the upstream counted by its own /extras/tokenize over the configured template
        ModelConfig(name="upstream-template", backend="openai", base_url=upstream, chat_template=str(template_file)),
        # neither: llama_cpp.server has no template endpoint, so streams can only be estimated
        ModelConfig(name="upstream-bare", backend="openai", base_url=upstream),
        ModelConfig(name="embedded", backend="llamacpp", path=Path("embedded"), n_threads=1),
    )
    with Gateway(tmp_path_factory.mktemp("gateway"), models) as running:
        yield running


# Item 1: the same request bills the same streamed or not ------------------------------------


@pytest.mark.parametrize("model", ["upstream-gguf", "upstream-template"])
def test_a_streamed_chat_bills_the_prompt_tokens_the_upstream_reports_unstreamed(gateway, model):
    raw = gateway.client.chat.completions.with_raw_response.create(model=model, messages=HELLO, max_tokens=3, temperature=0)
    reported = raw.parse().usage.prompt_tokens
    unstreamed = gateway.record(raw.headers["x-request-id"])

    with gateway.client.chat.completions.with_streaming_response.create(
        model=model, messages=HELLO, max_tokens=3, temperature=0, stream=True, stream_options={"include_usage": True},
    ) as response:
        chunks = list(response.parse())
        request_id = response.headers["x-request-id"]
    streamed = gateway.record(request_id)

    # The upstream counted its chat template's default system prompt: far more than "Say hi".
    assert reported > 20
    assert (unstreamed.tokens_prompt, unstreamed.usage_source) == (reported, "backend")
    assert (streamed.tokens_prompt, streamed.usage_source) == (reported, "tokenizer")
    assert chunks[-1].usage.prompt_tokens == reported
    assert 0 < streamed.tokens_completion <= 3


def test_without_a_tokenizer_or_template_a_stream_is_labelled_an_estimate(gateway, caplog):
    with gateway.client.chat.completions.with_streaming_response.create(
        model="upstream-bare", messages=HELLO, max_tokens=2, temperature=0, stream=True,
    ) as response:
        list(response.parse())
        request_id = response.headers["x-request-id"]

    assert gateway.record(request_id).usage_source == "estimate"
    assert "configure `tokenizer`" in caplog.text


# Item 8: an empty prompt is a 400 in the OpenAI error format ---------------------------------


@pytest.mark.parametrize("model", ["embedded", "upstream-gguf"])
@pytest.mark.parametrize(
    ("endpoint", "body", "param"),
    [
        ("chat", {"messages": [{"role": "user", "content": ""}]}, "messages"),
        ("chat", {"messages": [{"role": "system", "content": " "}, {"role": "user", "content": "\n"}]}, "messages"),
        ("completion", {"prompt": ""}, "prompt"),
        ("completion", {"prompt": "   "}, "prompt"),
    ],
)
def test_a_prompt_without_text_is_a_clean_400(gateway, model, endpoint, body, param):
    path = "/v1/chat/completions" if endpoint == "chat" else "/v1/completions"
    response = httpx.post(
        f"http://127.0.0.1:{gateway.port}{path}", json={"model": model, "max_tokens": 2, **body},
        headers={"Authorization": f"Bearer {gateway.client.api_key}"}, timeout=60,
    )

    assert response.status_code == 400, response.text
    assert response.json() == {"error": {"message": response.json()["error"]["message"], "type": "invalid_request_error",
                                         "param": param, "code": "empty_prompt"}}
    assert "x-request-id" in response.headers

