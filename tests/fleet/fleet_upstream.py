"""A fake OpenAI-compatible upstream the fleet's replicas share (an `openai` backend each),
run as its own process: `python tests/fleet/fleet_upstream.py --port P [--token-delay-ms D]`.

* `GET /v1/models`: one model, `fleet-upstream`.
* `POST /v1/chat/completions` and `/v1/completions`: a completion of `max_tokens` tokens
  (default 8), each token the word "tick"; usage = PROMPT_TOKENS prompt tokens and the tokens
  sent. Streamed when asked, one token per server-sent event every `--token-delay-ms`, the
  usage chunk last when `stream_options.include_usage` is set; a stream whose client goes away
  stops at the next token.

Deterministic usage makes the money checkable: every request costs exactly
(PROMPT_TOKENS + max_tokens) tokens at the configured price.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson
from aiohttp import web

MODEL = "fleet-upstream"
PROMPT_TOKENS = 9
DEFAULT_MAX_TOKENS = 8
WORD = "tick "


def _usage(completion_tokens: int) -> dict:
    return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion_tokens,
            "total_tokens": PROMPT_TOKENS + completion_tokens}


def _choice(chat: bool, text: str, finish: str | None, delta: bool) -> dict:
    if not chat:
        return {"index": 0, "text": text, "finish_reason": finish}
    key = "delta" if delta else "message"
    return {"index": 0, key: {"role": "assistant", "content": text}, "finish_reason": finish}


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "fleet"}]})


async def generate(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    chat = request.path.endswith("/chat/completions")
    tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or DEFAULT_MAX_TOKENS)
    kind = "chat.completion" if chat else "text_completion"
    base = {"id": f"fake-{time.monotonic_ns()}", "created": int(time.time()), "model": MODEL}
    if not body.get("stream"):
        return web.json_response({**base, "object": kind, "choices": [_choice(chat, WORD * tokens, "stop", False)],
                                  "usage": _usage(tokens)})
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    delay_s = request.app["token_delay_s"]
    chunk_kind = "chat.completion.chunk" if chat else "text_completion"
    try:
        for index in range(tokens):
            finish = "stop" if index == tokens - 1 else None
            chunk = {**base, "object": chunk_kind, "choices": [_choice(chat, WORD, finish, True)]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await asyncio.sleep(delay_s)
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk = {**base, "object": chunk_kind, "choices": [], "usage": _usage(tokens)}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
    except ConnectionResetError:
        pass  # the replica went away (or was killed): stop generating
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    parser.add_argument("--token-delay-ms", type=float, default=20.0, help="pause after each streamed token")
    args = parser.parse_args()
    app = web.Application()
    app["token_delay_s"] = args.token_delay_ms / 1000
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", generate)
    app.router.add_post("/v1/completions", generate)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
